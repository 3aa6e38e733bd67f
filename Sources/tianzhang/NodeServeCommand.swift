import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangReference
import TianzhangSQLite
import TianzhangSync

extension NodeCommand {
    /// `tianzhang node serve`: the township node serving protocol v1 to its patrol devices.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve", abstract: "Serve protocol v1 over HTTP to this township's patrol devices, on the node's store.",
            discussion: """
                Patrols authenticate with the credentials the county issued (checked against the enrolment records \
                synced from the hub, so this works with the hub offline). Their changes keep their origin and go \
                upstream on the node's next `node sync`; the county's receipts come back down to them the same way.
                """)
        @OptionGroup var options: Options
        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "Port (0: any free port).") var port = 8081
        @Option(help: "Write the bound port to this file once listening.") var portFile: String?

        func run() async throws {
            let (store, meta, engine) = try NodeCommand.open(options)
            let server = try ReplicaServer.node(store: store, engine: engine, configuration: .init(host: host, port: port))
            let (host, portFile) = (self.host, self.portFile)
            try await server.run { port in
                FileHandle.standardOutput.write(Data("\(meta.replica) serving its patrols on http://\(host):\(port)\n".utf8))
                if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            }
        }
    }

    /// `tianzhang node outbox`: the changes not yet at the county, one JSON line each (exportable).
    struct Outbox: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "outbox", abstract: "List this replica's changes not yet at the county (and relayed ones waiting), one JSON line each.",
            discussion: "Still lists them after the credential was revoked: a revoked replica keeps its own undelivered work.")
        @OptionGroup var options: Options

        func run() async throws {
            let (store, _, _) = try NodeCommand.open(options)
            for entry in try store.undelivered() {
                print(String(decoding: try Wire.encoder.encode(entry), as: UTF8.self))
            }
        }
    }
}
