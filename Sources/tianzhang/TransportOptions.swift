import ArgumentParser
import Foundation
import TianzhangHTTP
import TianzhangSQLite

extension HubCommand.Serve {
    /// The hub's TLS identity from `--tls-cert` and `--tls-key`: both or neither.
    /// - Throws: `CLIError` when only one is given.
    static func tlsFiles(certificate: String?, key: String?) throws -> HubServer.TLSFiles? {
        switch (certificate, key) {
        case (nil, nil): return nil
        case (let certificate?, let key?): return HubServer.TLSFiles(certificateChainPath: certificate, privateKeyPath: key)
        default: throw CLIError("Give both --tls-cert and --tls-key (PEM files) to serve https, or neither for plain http.")
        }
    }
}

extension NodeCommand {
    /// The setting that holds the pinned county CA's PEM text (a copy: the node keeps working if the file moves).
    static let pinnedCASetting = "hub.ca"

    /// Reads the county CA to pin.
    /// - Throws: `CLIError` when the file cannot be read or holds no PEM certificate, or the hub is not https.
    static func readPinnedCA(_ path: String, hub: URL) throws -> Data {
        guard hub.scheme?.lowercased() == "https" else {
            throw CLIError("--ca pins the certificate authority of an https hub; \(hub.absoluteString) is not https.")
        }
        guard let pem = FileManager.default.contents(atPath: path) else { throw CLIError("Cannot read the county CA file \(path).") }
        guard String(decoding: pem, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            throw CLIError("\(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the county CA's certificate.")
        }
        return pem
    }

    /// The client's options for this node: the pinned CA, when `node init --ca` stored one, and the link's limits.
    /// - Throws: `ValidationError` when a limit is not positive.
    static func clientOptions(_ store: SQLiteReplicaStore, link: LinkOptions? = nil) throws -> SyncClient.Options {
        var options = SyncClient.Options(pinnedCertificateAuthority: try store.setting(pinnedCASetting).map { Data($0.utf8) })
        if let link { try link.apply(to: &options) }
        return options
    }
}

/// How patient `node sync` is with the link (libcurl's limits; decision 005).
struct LinkOptions: ParsableArguments {
    @Option(help: "Seconds to connect (TCP and TLS) to the hub.") var connectTimeout: Double = 10
    @Option(help: "Abandon a request slower than this many bytes/s for --low-speed-time seconds.") var lowSpeedLimit = 64
    @Option(help: "Seconds below --low-speed-limit before a request is abandoned (a stalled link).") var lowSpeedTime = 15
    @Option(help: "Seconds a whole request may take.") var requestTimeout: Double = 120

    /// Checked when the command line is parsed, before anything is opened.
    /// - Throws: `ValidationError` when a value is not positive.
    func validate() throws {
        guard connectTimeout > 0, lowSpeedLimit > 0, lowSpeedTime > 0, requestTimeout > 0 else {
            throw ValidationError("--connect-timeout, --low-speed-limit, --low-speed-time and --request-timeout must be positive.")
        }
    }

    func apply(to options: inout SyncClient.Options) throws {
        try validate()
        options.connectTimeout = connectTimeout
        options.lowSpeedLimit = lowSpeedLimit
        options.lowSpeedTime = lowSpeedTime
        options.totalTimeout = requestTimeout
    }
}
