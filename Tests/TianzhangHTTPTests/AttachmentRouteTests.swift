import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangStore
import TianzhangSync

/// Photo bytes over HTTP: chunked, resumable from the last confirmed byte, verified against the digest.
@Suite("Attachments over HTTP", .serialized)
struct AttachmentRouteTests {
    let node = try! ReplicaID("node:371312001")

    func request(_ hub: RunningHub, _ method: String, _ path: String, body: Data? = nil, credential: String?) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: URL(string: hub.url.absoluteString + path)!)
        request.httpMethod = method
        request.httpBody = body
        if let credential { request.setValue("Bearer \(credential)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    static func photo(_ count: Int) -> Data { Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / 251) }) }

    @Test("chunks resume from the confirmed byte; a wrong offset is told where to resume; the whole file is verified and kept")
    func resumableUpload() async throws {
        let hub = try await RunningHub()
        let secret = try hub.store.enrol(node, jurisdiction: .township(try DivisionCode("371312001")), now: hub.now)
        let bytes = Self.photo(150_000)
        let sha = ContentDigest.sha256(bytes)
        var (status, body) = try await request(hub, "GET", "/v1/attachments/\(sha)", credential: secret)
        #expect(status == 200 && body["received"] as? Int == 0 && body["complete"] as? Bool == false)
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=0&size=\(bytes.count)", body: bytes.prefix(61_234), credential: secret)
        #expect(status == 200 && body["received"] as? Int == 61_234 && body["complete"] as? Bool == false)
        // A client that lost the answer resends from 0: told where to resume, nothing written twice.
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=0&size=\(bytes.count)", body: bytes.prefix(1_000), credential: secret)
        #expect(status == 409 && errorCode(body) == "offset_mismatch" && errorField(body) == "offset")
        (status, body) = try await request(hub, "GET", "/v1/attachments/\(sha)", credential: secret)
        #expect(body["received"] as? Int == 61_234)
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=61234&size=\(bytes.count)", body: bytes.suffix(from: 61_234), credential: secret)
        #expect(status == 200 && body["received"] as? Int == 150_000 && body["complete"] as? Bool == true)
        let vault = try AttachmentVault(besideStore: hub.store.path!)
        #expect(try Data(contentsOf: vault.url(of: sha)) == bytes)
        // Once whole, a repeated chunk is answered as complete.
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=0&size=\(bytes.count)", body: bytes.prefix(10), credential: secret)
        #expect(status == 200 && body["complete"] as? Bool == true)
    }

    @Test("bytes that do not hash to their digest are discarded; bad requests get their codes")
    func refusals() async throws {
        let hub = try await RunningHub()
        let secret = try hub.store.enrol(node, jurisdiction: .township(try DivisionCode("371312001")), now: hub.now)
        let bytes = Self.photo(5_000)
        let sha = ContentDigest.sha256(bytes)
        var corrupt = bytes
        corrupt[4_000] ^= 0xFF
        var (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=0&size=5000", body: corrupt, credential: secret)
        #expect(status == 422 && errorCode(body) == "digest_mismatch")
        (status, body) = try await request(hub, "GET", "/v1/attachments/\(sha)", credential: secret)
        #expect(body["received"] as? Int == 0, "the corrupt bytes were discarded, so the upload starts again")
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=0&size=4000", body: bytes, credential: secret)
        #expect(status == 422 && errorCode(body) == "size_mismatch")
        (status, body) = try await request(hub, "PUT", "/v1/attachments/not-a-digest?offset=0&size=10", body: bytes.prefix(10), credential: secret)
        #expect(status == 400 && errorCode(body) == "invalid_value")
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?size=5000", body: bytes, credential: secret)
        #expect(status == 400 && errorCode(body) == "invalid_value" && errorField(body) == "offset")
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=0&size=5000", body: bytes, credential: nil)
        #expect(status == 401 && errorCode(body) == "unknown_credential")
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=0&size=\(2 << 20)", body: Data(count: (1 << 20) + 1), credential: secret)
        #expect(status == 413 && errorCode(body) == "body_too_large")
        (status, body) = try await request(hub, "PUT", "/v1/attachments/\(sha)?offset=0&size=5000", body: bytes, credential: secret)
        #expect(status == 200 && body["complete"] as? Bool == true)
    }
}

@Suite("Attachment vault")
struct AttachmentVaultTests {
    func vault() throws -> AttachmentVault {
        try AttachmentVault(folder: FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-vault-\(UUID().uuidString)"))
    }

    @Test("an upload cut at any byte of a seeded random schedule resumes from the confirmed byte to a verified file", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func resumeAfterCuts(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let bytes = Data((0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let sha = ContentDigest.sha256(bytes)
        let receiver = try vault()
        var attempts = 0
        while !receiver.has(sha) {
            attempts += 1
            // Each attempt asks where to resume, sends a chunk, and its link is cut at a random byte:
            // the receiver keeps only whole chunks it confirmed.
            let from = Int(try receiver.status(sha, uploader: "node:1", mayKnow: false).received)
            let chunk = Int.random(in: 1...40_000, using: &rng)
            let end = min(bytes.count, from + chunk)
            let cutAt = Int.random(in: from...end + 10_000, using: &rng)
            if cutAt < end { continue }  // cut mid-chunk: nothing of it is confirmed
            _ = try receiver.append(sha, uploader: "node:1", offset: Int64(from), size: Int64(bytes.count), bytes: bytes[from..<end])
        }
        #expect(try Data(contentsOf: receiver.url(of: sha)) == bytes)
        #expect(try receiver.received(sha) == 200_000)
        #expect(attempts > 5)
    }

    @Test("a confirmed partial survives reopening the vault; a wrong offset is refused with the byte to resume from")
    func partialSurvives() throws {
        let first = try vault()
        let bytes = Data(repeating: 7, count: 10_000)
        let sha = ContentDigest.sha256(bytes)
        _ = try first.append(sha, uploader: "node:1", offset: 0, size: 10_000, bytes: bytes.prefix(4_000))
        let reopened = try AttachmentVault(folder: first.folder)
        #expect(try reopened.status(sha, uploader: "node:1", mayKnow: false).received == 4_000)
        #expect(throws: VaultError(.offsetMismatch, "This chunk starts at byte 3000, but 4000 bytes are held: resume from 4000.", received: 4_000)) {
            try reopened.append(sha, uploader: "node:1", offset: 3_000, size: 10_000, bytes: bytes.prefix(10))
        }
        let done = try reopened.append(sha, uploader: "node:1", offset: 4_000, size: 10_000, bytes: bytes.suffix(6_000))
        #expect(done.complete && done.received == 10_000)
    }

    @Test("a local file is kept under its digest once, flushed; an empty file is refused")
    func put() throws {
        let vault = try vault()
        let file = vault.folder.appendingPathComponent("photo.jpg")
        try Data("field photo".utf8).write(to: file)
        let kept = try vault.put(contentsOf: file)
        #expect(kept.sha256 == ContentDigest.sha256(Data("field photo".utf8)) && kept.size == 11)
        #expect(try vault.put(contentsOf: file).sha256 == kept.sha256)
        #expect(try FileManager.default.contentsOfDirectory(atPath: vault.folder.appendingPathComponent("partial").path).isEmpty)
        try Data().write(to: file)
        #expect(throws: VaultError.self) { try vault.put(contentsOf: file) }
    }
}
