import ArgumentParser
import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangPostgres
import TianzhangReference
import TianzhangSQLite
import TianzhangSync

/// Where a hub keeps its store: the embedded SQLite file (the default), or a PostgreSQL database that
/// several hub processes share (`--database postgres://…`).
struct HubStoreOptions: ParsableArguments {
    init() {}

    init(store: String, database: String?, schema: String) {
        self.store = store
        self.database = database
        self.schema = schema
    }

    @Option(help: "The hub store (SQLite file), unless --database is given.") var store = "hub.sqlite"
    @Option(help: "A PostgreSQL database shared by several hub processes: postgres://user[:password]@host[:port]/database.") var database: String?
    @Option(help: "The schema of the hub's tables in --database.") var schema = "tianzhang"

    enum Opened {
        case sqlite(SQLiteReplicaStore)
        case postgres(PostgresSyncStore)

        var sync: any SyncStore {
            switch self {
            case .sqlite(let store): store
            case .postgres(let store): store
            }
        }

        func enrol(_ replica: ReplicaID, jurisdiction: Jurisdiction, now: Int64) throws -> String {
            switch self {
            case .sqlite(let store): try store.enrol(replica, jurisdiction: jurisdiction, now: now)
            case .postgres(let store): try store.enrol(replica, jurisdiction: jurisdiction, now: now)
            }
        }

        func revoke(_ replica: ReplicaID, now: Int64) throws -> Int {
            switch self {
            case .sqlite(let store): try store.revoke(replica, now: now)
            case .postgres(let store): try store.revoke(replica, now: now)
            }
        }
    }

    func open() throws -> Opened {
        guard let database else { return .sqlite(try SQLiteReplicaStore(path: store)) }
        do { return .postgres(try PostgresSyncStore(url: database, schema: schema)) } catch let error as PostgresSyncStore.Failure {
            throw CLIError("\(error.code): \(error.description)")
        }
    }
}

extension HubCommand {
    /// `tianzhang hub serve`: the county hub over HTTP.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve protocol v1 over HTTP on the hub's store.")
        @OptionGroup var hubStore: HubStoreOptions
        @Option(help: "The county code.") var county: String
        @Option(help: "With --database: the folder for attachment bytes (share it between hub processes); none: attachments are refused as unavailable.")
        var attachments: String?
        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "Port (0: any free port).") var port = 8080
        @Option(help: "Write the bound port to this file once listening.") var portFile: String?
        @Option(help: "Serve https with this PEM certificate chain (with --tls-key).") var tlsCert: String?
        @Option(help: "The PEM private key of --tls-cert.") var tlsKey: String?

        func run() async throws {
            let engine = SyncEngine(configuration: .init(landClasses: try ReferenceData.landClasses()))
            let code = try DivisionCode(county, level: .county)
            let (portFile, county, host) = (self.portFile, self.county, self.host)
            switch try hubStore.open() {
            case .sqlite(let replica):
                try? replica.write { tx in try engine.ensureIncarnation(in: tx) }
                var configuration = HubServer.Configuration(host: host, port: port)
                configuration.tls = try Self.tlsFiles(certificate: tlsCert, key: tlsKey)
                let server = try HubServer(store: replica, engine: engine, county: code, configuration: configuration)
                let scheme = configuration.tls == nil ? "http" : "https"
                try await server.run { port in
                    FileHandle.standardOutput.write(Data("county hub \(county) listening on \(scheme)://\(host):\(port)\n".utf8))
                    if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                }
            case .postgres(let database):
                // A stateless hub process: everything it knows is in the database, so any number of them serve one county.
                guard tlsCert == nil else { throw CLIError("--tls-cert with --database: put the hub processes behind the county's TLS terminator (not built yet).") }
                let hub = ReplicaID(kind: .hub, name: code.rawValue)
                let meta = try database.write { tx in try engine.open(replica: hub, jurisdiction: .county(code), in: tx) }
                guard meta.replica == hub else { throw CLIError("The database holds \(meta.replica), not the hub of county \(county).") }
                try database.write { tx in try engine.ensureIncarnation(in: tx) }
                let authority = CredentialAuthority(name: "the county hub", enrolment: { try database.enrolment(forSecret: $0) },
                                                    originJurisdiction: { try database.jurisdiction(of: $0) }, originKeys: { try database.originKeys(of: $0) })
                let server = ReplicaServer(store: database, attachments: attachments.map { URL(fileURLWithPath: $0) }, engine: engine, replica: hub,
                                           authority: authority, configuration: .init(host: host, port: port, serverName: "tianzhang-hub"))
                try await server.run { port in
                    FileHandle.standardOutput.write(Data("county hub \(county) (PostgreSQL) listening on http://\(host):\(port)\n".utf8))
                    if let portFile { try? "\(port)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                }
            }
        }
    }

    /// `tianzhang hub enrol`: issues a credential for a township node or a patrol device.
    struct Enrol: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "enrol", abstract: "Issue a credential bound to a replica and a jurisdiction (printed once; only its hash is stored).")
        @OptionGroup var hubStore: HubStoreOptions
        @Option(help: "The replica id, e.g. node:371312001 or patrol:chief-371312001201.") var replica: String
        @Option(help: "A township the replica works for.") var township: String?
        @Option(help: "Villages the replica works for, comma-separated.") var villages: String?

        func run() throws {
            let jurisdiction: Jurisdiction
            if let township { jurisdiction = .township(try DivisionCode(township, level: .township)) }
            else if let villages { jurisdiction = .villages(Set(try villages.split(separator: ",").map { try DivisionCode(String($0), level: .village) })) }
            else { throw CLIError("Give --township or --villages.") }
            print(try hubStore.open().enrol(try ReplicaID(replica), jurisdiction: jurisdiction, now: nowMilliseconds()))
        }
    }

    /// `tianzhang hub revoke`: revokes a replica's credentials.
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke every credential of a replica.")
        @OptionGroup var hubStore: HubStoreOptions
        @Option(help: "The replica id.") var replica: String
        func run() throws { print("revoked \(try hubStore.open().revoke(try ReplicaID(replica), now: nowMilliseconds())) credential(s)") }
    }

    /// `tianzhang hub copy-to-postgres`: moves a county hub from its SQLite file to a PostgreSQL database.
    struct CopyToPostgres: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "copy-to-postgres", abstract: "Copy a hub's SQLite store (log, records, credentials) into an empty PostgreSQL schema.",
            discussion: "Sequence numbers are kept, so township nodes go on syncing from where they were with any `hub serve --database` process.")
        @Option(help: "The hub store (SQLite file).") var store = "hub.sqlite"
        @Option(help: "The PostgreSQL database: postgres://user[:password]@host[:port]/database.") var database: String
        @Option(help: "The schema to create the hub's tables in.") var schema = "tianzhang"

        func run() throws {
            let source = try SQLiteReplicaStore(path: store)
            guard case .postgres(let target) = try HubStoreOptions(store: store, database: database, schema: schema).open() else { return }
            do {
                let report = try target.copy(from: source, credentials: try source.issuedCredentials())
                print("copied \(report.changes) changes, \(report.records) records and \(report.credentials) credentials into schema \(schema)")
            } catch let error as PostgresSyncStore.Failure {
                throw CLIError("\(error.code): \(error.description)")
            }
        }
    }

    /// `tianzhang hub digest`: the state digest of a scope, to compare with a node's.
    struct Digest: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "digest", abstract: "Print the state digest of a township (or the county).")
        @OptionGroup var hubStore: HubStoreOptions
        @Option(help: "A township code, or a county code.") var scope: String
        func run() throws {
            let code = try DivisionCode(scope)
            let jurisdiction: Jurisdiction = code.level == .county ? .county(code) : .township(code)
            print(try hubStore.open().sync.read { try SyncEngine().digest(of: jurisdiction, in: $0) })
        }
    }
}

/// `tianzhang node …`: a township office's replica.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Township node commands.",
        subcommands: [Init.self, Sync.self, Status.self, Transition.self, Note.self, Serve.self, Outbox.self, Restored.self] + NodeCommand.workCommands)

    struct Options: ParsableArguments {
        @Option(help: "The node's store (SQLite file).") var store = "node.sqlite"
    }

    static func open(_ options: Options) throws -> (SQLiteReplicaStore, ReplicaMeta, SyncEngine) {
        guard FileManager.default.fileExists(atPath: options.store) else { throw CLIError("No node store at \(options.store); run `tianzhang node init` first.") }
        let store = try SQLiteReplicaStore(path: options.store)
        guard let meta = try store.read({ try $0.meta() }) else { throw CLIError("\(options.store) has no replica; run `tianzhang node init` first.") }
        return (store, meta, SyncEngine(configuration: .init(landClasses: try ReferenceData.landClasses())))
    }

    static func client(_ store: SQLiteReplicaStore, link: LinkOptions? = nil) throws -> SyncClient {
        guard let hub = try store.setting("hub.url").flatMap(URL.init(string:)), let credential = try store.setting("hub.credential") else {
            throw CLIError("This node has no hub address or credential; run `tianzhang node init`.")
        }
        return SyncClient(baseURL: hub, credential: credential, options: try clientOptions(store, link: link))
    }

    /// `tianzhang node init`: binds a store to the hub with an enrolment credential.
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "init", abstract: "Create the node's store and enrol it with the county hub.")
        @OptionGroup var options: Options
        @Option(help: "The hub's address, e.g. http://127.0.0.1:8080.") var hub: String
        @Option(help: "The credential the county issued.") var credential: String
        @Option(help: "This node's replica id, e.g. node:371312001.") var replica: String
        @Option(help: "Pin the county CA (PEM file) for an https hub; it is copied into the store.") var ca: String?

        func run() async throws {
            guard let url = URL(string: hub) else { throw CLIError("\(hub) is not a URL.") }
            let id = try ReplicaID(replica)
            let pinned = try ca.map { try NodeCommand.readPinnedCA($0, hub: url) }
            let hello = try await SyncClient(baseURL: url, credential: credential, options: .init(pinnedCertificateAuthority: pinned)).hello(HelloRequest(replica: id))
            let store = try SQLiteReplicaStore(path: options.store)
            try store.write { tx in _ = try SyncEngine().open(replica: id, jurisdiction: hello.jurisdiction, credential: credential, in: tx) }
            try store.setSetting("hub.url", hub)
            try store.setSetting("hub.credential", credential)
            if let pinned { try store.setSetting(NodeCommand.pinnedCASetting, String(decoding: pinned, as: UTF8.self)) }
            print("\(id) enrolled with \(hello.server) (protocol v\(hello.protocolVersion)) for \(Wire.describe(hello.jurisdiction)); run `tianzhang node sync` to download")
        }
    }

    /// `tianzhang node sync`: push the outbox, then pull.
    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sync", abstract: "Push the outbox, then pull; retries with backoff when the link fails.")
        @OptionGroup var options: Options
        @Flag(help: "Print the report as JSON.") var json = false
        @Option(help: "Changes per pull page (smaller pages: less to redo after a cut).") var pageSize: Int?
        @Option(help: "Changes per push batch.") var batchSize: Int?
        @Option(help: "Seconds a request may go below the low-speed limit before it is retried (same as --low-speed-time).") var timeout: Double?
        @OptionGroup var link: LinkOptions

        func run() async throws {
            try await NodeSyncSession(options: options, json: json, pageSize: pageSize, batchSize: batchSize, timeout: timeout, link: link).run()
        }
    }

    /// `tianzhang node status`: outbox, digest, conflicts.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the outbox, the state digest and open conflicts.")
        @OptionGroup var options: Options
        @Flag(help: "Print JSON.") var json = false

        struct Body: Codable {
            var replica: String; var digest: String; var pending: Int; var rejected: Int; var openConflicts: [String]; var parcels: Int; var cases: Int
            /// Pending changes the upstream did not take yet, with its reason (`attachment_bytes_missing`: a photo's bytes are not up).
            var waiting: [String] = []
            /// This device's clock minus the county's, in ms, as learned at the last sync (absent: not learned yet).
            var clockSkewMilliseconds: Int64?
            /// The same for a clerk, in Chinese (absent: within a minute).
            var clockSkew: String?
            /// This node's own refused changes not yet amended (they stay listed until amended).
            var refusedUnamended: [String]
        }

        func run() async throws {
            let (store, meta, engine) = try NodeCommand.open(options)
            let summary = try store.summary()
            let waiting = try store.read { try $0.entries(delivery: .pending) }.compactMap { entry in
                entry.rejection.map { "\(entry.change.recordTypeName)/\(entry.change.recordID): \($0.code.rawValue): \($0.message)" }
            }
            let (digest, conflicts) = try store.read { tx in (try engine.digest(of: meta.jurisdiction, in: tx), try engine.conflicts(in: meta.jurisdiction, in: tx)) }
            let body = Body(replica: meta.replica.rawValue, digest: digest, pending: summary.pendingChanges, rejected: summary.rejectedChanges,
                            openConflicts: conflicts.filter { $0.status == .open }.map(\.id), parcels: summary.parcels, cases: summary.cases, waiting: waiting,
                            clockSkewMilliseconds: meta.clockOffset.map { -$0 }, clockSkew: skewLineChinese(meta.clockOffset),
                            refusedUnamended: try NodeCommand.refusedUnamended(store).map { "\($0.change.id) \($0.change.recordTypeName)/\($0.change.recordID): \($0.rejection?.code.rawValue ?? "rejected")" })
            if json { print(String(decoding: try Wire.encoder.encode(body), as: UTF8.self)) } else {
                print("\(body.replica): \(body.parcels) parcels, \(body.cases) cases; \(body.pending) changes waiting, \(body.rejected) rejected; digest \(digest.prefix(16))")
                if let skew = body.clockSkew { print("  \(skew)") }
                for line in body.refusedUnamended { print("  refused, not amended: \(line)") }
                for id in body.openConflicts { print("  open conflict \(id)") }
                for line in body.waiting { print("  pending \(line)") }
            }
        }
    }

    /// `tianzhang node transition CASE STATUS`: moves a case along its workflow, offline.
    struct Transition: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "transition", abstract: "Move a case along its workflow (recorded locally, whatever the link).")
        @OptionGroup var options: Options
        @Argument(help: "The case id.") var caseID: String
        @Argument(help: "The new status.") var status: String
        @Option(help: "Who acts.") var author = "clerk"

        func run() async throws {
            let (store, meta, engine) = try NodeCommand.open(options)
            guard let next = CaseStatus(rawValue: status) else { throw NodeError("unknown_status", "\(status) is not a status (\(CaseStatus.allCases.map(\.rawValue).joined(separator: ", ")))") }
            guard var record = try store.enforcementCase(caseID) else { throw NodeError.unknownCase(caseID) }
            do { try record.transition(to: next, by: meta.replica.role) } catch { throw error.validationError }
            let value = WorkflowValue(status: record.status, round: record.round, decision: next.isDecision ? next : nil)
            let current = try store.read { try $0.recordState(RecordKey(.enforcementCase, caseID)) }
            let decision = current?.materialized["decision"]?.stringValue.flatMap(CaseStatus.init(rawValue:))
            let carried = WorkflowValue(status: value.status, round: value.round, decision: value.decision ?? (next == .reported ? nil : decision))
            let change = try store.write { tx in
                try engine.record(Draft(type: .enforcementCase, id: caseID, scope: record.village ?? record.township, author: author, fields: ["status": .set(carried.json)]), physicalNow: nowMilliseconds(), in: tx)
            }
            print("case \(caseID): \(next.rawValue) (change \(change.id), waiting to sync)")
        }
    }

    /// `tianzhang node note CASE TEXT`: appends a note to a case's timeline, offline.
    struct Note: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "note", abstract: "Append a note to a case's timeline (recorded locally).")
        @OptionGroup var options: Options
        @Argument(help: "The case id.") var caseID: String
        @Argument(help: "The note.") var text: String
        @Option(help: "Who writes.") var author = "clerk"
        @Option(name: .customLong("repeat"), help: "Record the note this many times (load tests).") var repeat_: Int = 1

        func run() async throws {
            let (store, meta, engine) = try NodeCommand.open(options)
            guard let record = try store.enforcementCase(caseID) else { throw NodeError.unknownCase(caseID) }
            for n in 0..<max(1, repeat_) {
                let device = nowMilliseconds()
                let now = meta.countyTime(device)
                let id = RecordID.generate(at: Timestamp(milliseconds: now), using: &SystemRNG.shared).rawValue
                let change = try store.write { tx in
                    try engine.record(Draft(type: .timelineEntry, id: id, scope: record.village ?? record.township, author: author, fields: [
                        "caseID": .set(.string(caseID)), "kind": .set("note"), "text": .set(.string(repeat_ > 1 ? "\(text) #\(n + 1)" : text)),
                        "attachmentIDs": .set([]), "author": .set(.string(author)), "at": .set(.number(Double(now))),
                    ]), physicalNow: device, in: tx)
                }
                if repeat_ == 1 { print("note \(id) on case \(caseID) (change \(change.id), waiting to sync)") }
            }
            if repeat_ > 1 { print("\(repeat_) notes on case \(caseID), waiting to sync") }
        }
    }
}
