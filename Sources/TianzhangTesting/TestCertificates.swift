import Foundation

/// A throwaway county CA and a hub certificate for 127.0.0.1 signed by it, made with the `openssl`
/// command in a folder, for TLS tests. Nothing here is fit for production.
public struct TestCertificates: Sendable {
    /// The county CA's certificate (what nodes pin).
    public let caCertificate: URL
    /// The hub's certificate chain (leaf, then the CA) and its private key.
    public let hubCertificate: URL
    public let hubKey: URL

    /// The failure of an `openssl` step, with its output.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Makes a CA named `name` and a hub certificate (subject alternative names 127.0.0.1 and localhost)
    /// in `folder`, with files prefixed by `name`.
    /// - Throws: `Failure` when `openssl` is missing or a step fails.
    public init(in folder: URL, name: String = "county") throws {
        func path(_ file: String) -> String { folder.appendingPathComponent("\(name)-\(file)").path }
        let extensions = path("hub.ext")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + curve + ["-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2",
                         "-subj", "/CN=Test \(name) CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try Self.openssl(["req"] + curve + ["-keyout", path("hub.key"), "-out", path("hub.csr"), "-subj", "/CN=127.0.0.1"])
        try Self.openssl(["x509", "-req", "-in", path("hub.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                          "-out", path("hub-leaf.pem"), "-days", "2", "-extfile", extensions])
        let chain = try String(contentsOfFile: path("hub-leaf.pem"), encoding: .utf8) + String(contentsOfFile: path("ca.pem"), encoding: .utf8)
        try chain.write(toFile: path("hub.pem"), atomically: true, encoding: .utf8)
        caCertificate = URL(fileURLWithPath: path("ca.pem"))
        hubCertificate = URL(fileURLWithPath: path("hub.pem"))
        hubKey = URL(fileURLWithPath: path("hub.key"))
    }

    static func openssl(_ arguments: [String]) throws {
        let result: ChildProcess.Result
        do { result = try ChildProcess.run("/usr/bin/env", ["openssl"] + arguments) } catch {
            throw Failure(description: "openssl cannot run (scripts/ensure-system-packages.sh installs it): \(error)")
        }
        guard result.status == 0 else { throw Failure(description: "openssl \(arguments.joined(separator: " ")) failed: \(result.output)\(result.error)") }
    }
}
