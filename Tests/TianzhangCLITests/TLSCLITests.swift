import Foundation
import Testing
import TianzhangTestGate
import TianzhangTesting

@Suite("https between real hub and node processes, with the county CA pinned", .serialized, .blocksAThread)
struct TLSCLITests {
    let township = "371312001"

    @Test("hub serve --tls-cert/--tls-key and node init --ca: the node keeps its pinned copy of the CA, syncs over https and converges")
    func nodeSyncsOverHTTPS() throws {
        let weak = WeakLinkTests()
        let folder = try weak.prepare()
        let certificates = try TestCertificates(in: folder)
        let hub = try HubProcess(folder: folder, extra: ["--tls-cert", certificates.hubCertificate.path, "--tls-key", certificates.hubKey.path])
        #expect(hub.port > 0)
        let secret = try CLI.run(["hub", "enrol", "--store", "hub.sqlite", "--replica", "node:\(township)", "--township", township], in: folder).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // The CA file is handed over, then removed: the node must have kept its own copy.
        let handed = folder.appendingPathComponent("handed-ca.pem")
        try FileManager.default.copyItem(at: certificates.caCertificate, to: handed)
        let initialised = try CLI.run(["node", "init", "--store", "\(township).sqlite", "--hub", "https://127.0.0.1:\(hub.port)", "--credential", secret,
                                       "--replica", "node:\(township)", "--ca", handed.path], in: folder)
        #expect(initialised.status == 0, "\(initialised.error)")
        try FileManager.default.removeItem(at: handed)
        let bootstrap = try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder)
        #expect(bootstrap.status == 0, "\(bootstrap.error)")
        let caseID = try weak.firstCase(township, folder: folder)
        #expect(try CLI.run(["node", "note", "--store", "\(township).sqlite", caseID, "加密链路", "--repeat", "30"], in: folder).status == 0)
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        #expect(try CLI.run(["node", "sync", "--store", "\(township).sqlite"], in: folder).status == 0)
        try weak.expectConverged(township, folder: folder)
        hub.kill()
    }

    @Test("a node pinned to another CA cannot enrol: tls_untrusted_certificate, at once")
    func wrongCARefused() throws {
        let folder = try WeakLinkTests().prepare()
        let certificates = try TestCertificates(in: folder)
        let stranger = try TestCertificates(in: folder, name: "stranger")
        let hub = try HubProcess(folder: folder, extra: ["--tls-cert", certificates.hubCertificate.path, "--tls-key", certificates.hubKey.path])
        let secret = try CLI.run(["hub", "enrol", "--store", "hub.sqlite", "--replica", "node:\(township)", "--township", township], in: folder).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let refused = try CLI.run(["node", "init", "--store", "n.sqlite", "--hub", "https://127.0.0.1:\(hub.port)", "--credential", secret,
                                   "--replica", "node:\(township)", "--ca", stranger.caCertificate.path], in: folder)
        #expect(refused.status != 0)
        #expect(refused.error.contains("tls_untrusted_certificate") && refused.error.contains("pinned county CA"), "\(refused.error)")
        hub.kill()
    }

    @Test("bad TLS options are refused with clear messages")
    func badOptions() throws {
        let folder = try WeakLinkTests().prepare()
        let certificates = try TestCertificates(in: folder)
        let onlyCert = try CLI.run(["hub", "serve", "--county", "371312", "--port", "0", "--tls-cert", certificates.hubCertificate.path], in: folder)
        #expect(onlyCert.status != 0 && onlyCert.error.contains("Give both --tls-cert and --tls-key"), "\(onlyCert.error)")
        let missing = try CLI.run(["hub", "serve", "--county", "371312", "--port", "0", "--tls-cert", "nowhere.pem", "--tls-key", certificates.hubKey.path], in: folder)
        #expect(missing.status != 0 && missing.error.contains("tls_certificate_unreadable"), "\(missing.error)")
        let badKey = try CLI.run(["hub", "serve", "--county", "371312", "--port", "0", "--tls-cert", certificates.hubCertificate.path, "--tls-key", certificates.caCertificate.path], in: folder)
        #expect(badKey.status != 0 && badKey.error.contains("tls_key_unreadable"), "\(badKey.error)")
        let plain = try CLI.run(["node", "init", "--store", "n.sqlite", "--hub", "http://127.0.0.1:1", "--credential", "x", "--replica", "node:\(township)",
                                 "--ca", certificates.caCertificate.path], in: folder)
        #expect(plain.status != 0 && plain.error.contains("is not https"), "\(plain.error)")
        let notPEM = try CLI.run(["node", "init", "--store", "n.sqlite", "--hub", "https://127.0.0.1:1", "--credential", "x", "--replica", "node:\(township)",
                                  "--ca", certificates.hubKey.path], in: folder)
        #expect(notPEM.status != 0 && notPEM.error.contains("holds no PEM certificate"), "\(notPEM.error)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("n.sqlite").path), "a refused init leaves no store behind")
    }
}
