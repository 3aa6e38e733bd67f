import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TianzhangClient
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangStore
import TianzhangSync

/// Photos are delivered or visibly pending, never lost (SPEC §10): an attachment record is taken only with
/// its bytes; uploads are per uploader; a probe tells nobody what it could not see.
@Suite("Attachment delivery", .serialized)
struct AttachmentDeliveryTests {
    let townshipA = try! DivisionCode("371312001")
    let townshipB = try! DivisionCode("371312002")
    let villageA = try! DivisionCode("371312001201")
    let villageB = try! DivisionCode("371312002201")
    let nodeA = try! ReplicaID("node:371312001")
    let nodeB = try! ReplicaID("node:371312002")

    static func bytes(_ count: Int, seed: UInt64) -> Data {
        var rng = SplitMix64(seed: seed)
        return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-delivery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A local vault holding `bytes` (as a device keeps a photo before it records it).
    static func vault(with bytes: Data) throws -> AttachmentVault {
        let folder = try folder()
        let vault = try AttachmentVault(folder: folder.appendingPathComponent("vault"))
        let file = folder.appendingPathComponent("photo.jpg")
        try bytes.write(to: file)
        _ = try vault.put(contentsOf: file)
        return vault
    }

    func attachmentChange(_ origin: ReplicaID, seq: UInt64, sha256: String, size: Int, caseID: String, scope: DivisionCode, now: Int64) throws -> Change {
        let caseRecord = try RecordID(caseID)
        let metadata = AttachmentMetadata(sha256: sha256, sizeBytes: Int64(size), mediaType: "image/jpeg", caseID: caseRecord, createdAt: Timestamp(milliseconds: now), author: "clerk")
        let draft = Draft(creating: metadata, type: .attachment, id: AttachmentMetadata.recordID(sha256: sha256, caseID: caseRecord), scope: scope, author: "clerk")
        return Change(id: ChangeID(origin: origin, seq: seq), recordType: .attachment, recordID: draft.id, scope: scope, hlc: HLC(wall: now), author: "clerk", fields: draft.fields)
    }

    func get(_ hub: RunningHub, _ path: String, credential: String) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: URL(string: hub.url.absoluteString + path)!)
        request.setValue("Bearer \(credential)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    @Test("a record whose local bytes are corrupt stays pending with its reason, does not block the rest, and is delivered once good bytes are up")
    func corruptBytesStayPending() async throws {
        let hub = try await RunningHub()
        let secret = try hub.store.enrol(nodeA, jurisdiction: .township(townshipA), now: hub.now)
        let folder = try Self.folder()
        let store = try SQLiteReplicaStore(path: folder.appendingPathComponent("node.sqlite").path)
        let engine = SyncEngine()
        try store.write { tx in _ = try engine.open(replica: nodeA, jurisdiction: .township(townshipA), credential: secret, in: tx) }
        let photo = Self.bytes(200_000, seed: 11)
        let sha = ContentDigest.sha256(photo)
        let vault = try AttachmentVault(besideStore: store.path!)
        var corrupt = photo
        corrupt[150_000] ^= 0xFF
        try corrupt.write(to: vault.url(of: sha))  // the local copy went bad after it was recorded
        let change = try attachmentChange(nodeA, seq: 1, sha256: sha, size: photo.count, caseID: "01JD0000000000000000000001", scope: villageA, now: hub.now)
        try store.write { tx in
            _ = try engine.record(Draft(type: .attachment, id: change.recordID, scope: villageA, author: "clerk", fields: change.fields), physicalNow: hub.now, in: tx)
            _ = try engine.record(Draft(type: .timelineEntry, id: "01JD00000000000000000000T1", scope: villageA, author: "clerk", fields: [
                "caseID": .set("01JD0000000000000000000001"), "kind": .set("note"), "text": .set("site visited"), "attachmentIDs": .set([]),
                "author": .set("clerk"), "at": .set(.number(Double(hub.now))),
            ]), physicalNow: hub.now, in: tx)
        }
        let runner = SyncRunner(store: store, engine: engine, client: SyncClient(baseURL: hub.url, credential: secret), replica: nodeA, clock: { hub.now })
        let first = try await runner.sync()
        #expect(first.attachmentsRefused.count == 1 && first.attachmentsRefused[0].contains("digest_mismatch"), "\(first.attachmentsRefused)")
        #expect(first.waiting.map(\.code) == ["attachment_bytes_missing"], "\(first.waiting)")
        #expect(first.accepted == 1 && first.rejections.isEmpty, "the timeline entry after it went through")
        #expect(try store.summary().pendingChanges == 1, "the photo's record is still pending")
        let entry = try #require(try store.read { try $0.entries(delivery: .pending) }.first)
        #expect(entry.change.recordType == .attachment && entry.rejection?.code == .attachmentBytesMissing, "pending, with the reason beside it")
        #expect(try hub.store.read { try $0.recordState(RecordKey(.attachment, change.recordID)) } == nil, "the hub did not take the record")
        #expect(try hub.store.read { try $0.receivedRejection(change.id) } == nil, "the refusal is not remembered as final")

        try photo.write(to: vault.url(of: sha))  // good bytes again (e.g. restored from the camera roll)
        let second = try await runner.sync()
        #expect(second.attachmentsUploaded == 1 && second.waiting.isEmpty && second.accepted == 1, "\(second)")
        #expect(try store.summary().pendingChanges == 0)
        #expect(try store.read { try $0.logEntry(change.id) }?.rejection == nil)
        #expect(try hub.store.read { try $0.recordState(RecordKey(.attachment, change.recordID)) } != nil)
        #expect(try Data(contentsOf: AttachmentVault(besideStore: hub.store.path!).url(of: sha)) == photo)
    }

    @Test("two uploaders of the same 3 MB photo at once both end with the photo whole at the hub", arguments: [1, 2, 3, 4] as [UInt64])
    func concurrentUploads(seed: UInt64) async throws {
        let hub = try await RunningHub()
        let secretA = try hub.store.enrol(nodeA, jurisdiction: .township(townshipA), now: hub.now)
        let secretB = try hub.store.enrol(nodeB, jurisdiction: .township(townshipB), now: hub.now)
        let photo = Self.bytes(3_000_000, seed: seed)
        let sha = ContentDigest.sha256(photo)
        let a = AttachmentUploader(vault: try Self.vault(with: photo), transport: SyncClient(baseURL: hub.url, credential: secretA), chunkBytes: 128 * 1024)
        let b = AttachmentUploader(vault: try Self.vault(with: photo), transport: SyncClient(baseURL: hub.url, credential: secretB), chunkBytes: 96 * 1024)
        async let first = a.upload(sha, size: Int64(photo.count))
        async let second = b.upload(sha, size: Int64(photo.count))
        let (one, two) = try await (first, second)
        #expect(one.status.complete && two.status.complete)
        #expect(try Data(contentsOf: AttachmentVault(besideStore: hub.store.path!).url(of: sha)) == photo)
    }

    @Test("junk one credential uploads for a digest never blocks another's real bytes")
    func junkDoesNotBlock() async throws {
        let hub = try await RunningHub()
        let secretA = try hub.store.enrol(nodeA, jurisdiction: .township(townshipA), now: hub.now)
        let secretB = try hub.store.enrol(nodeB, jurisdiction: .township(townshipB), now: hub.now)
        let photo = Self.bytes(300_000, seed: 5)
        let sha = ContentDigest.sha256(photo)
        let junk = SyncClient(baseURL: hub.url, credential: secretB)
        // B parks 100 KB of junk under the real photo's digest and size.
        let parked = try await junk.uploadAttachmentChunk(sha, offset: 0, size: Int64(photo.count), bytes: Self.bytes(100_000, seed: 99))
        #expect(parked.received == 100_000 && !parked.complete)
        let uploader = AttachmentUploader(vault: try Self.vault(with: photo), transport: SyncClient(baseURL: hub.url, credential: secretA))
        let (status, sent) = try await uploader.upload(sha, size: Int64(photo.count))
        #expect(status.complete && sent == Int64(photo.count), "A sent all of its own bytes, from 0")
        #expect(try Data(contentsOf: AttachmentVault(besideStore: hub.store.path!).url(of: sha)) == photo)
        // B's junk, finished, is its own digest_mismatch; the real photo stays.
        await #expect(throws: SyncClientError.self) {
            _ = try await junk.uploadAttachmentChunk(sha, offset: 100_000, size: Int64(photo.count), bytes: Self.bytes(200_000, seed: 98))
        }
        #expect(try Data(contentsOf: AttachmentVault(besideStore: hub.store.path!).url(of: sha)) == photo)
    }

    @Test("a probe or a push from another township learns nothing of a photo it may not see; the owner learns it is there")
    func probeLearnsNothing() async throws {
        let hub = try await RunningHub()
        let secretA = try hub.store.enrol(nodeA, jurisdiction: .township(townshipA), now: hub.now)
        let secretB = try hub.store.enrol(nodeB, jurisdiction: .township(townshipB), now: hub.now)
        let photo = Self.bytes(50_000, seed: 7)
        let sha = ContentDigest.sha256(photo)
        let clientA = SyncClient(baseURL: hub.url, credential: secretA)
        _ = try await AttachmentUploader(vault: try Self.vault(with: photo), transport: clientA).upload(sha, size: Int64(photo.count))
        let recordA = signed(try attachmentChange(nodeA, seq: 1, sha256: sha, size: photo.count, caseID: "01JD0000000000000000000001", scope: villageA, now: hub.now), secretA)
        let pushedA = try await clientA.push(PushRequest(sender: nodeA, changes: [recordA]))
        #expect(pushedA.results.map(\.outcome) == [.accepted], "\(pushedA.results)")

        var (status, body) = try await get(hub, "/v1/attachments/\(sha)", credential: secretB)
        #expect(status == 200 && body["received"] as? Int == 0 && body["complete"] as? Bool == false, "\(body)")
        (status, body) = try await get(hub, "/v1/attachments/\(sha)?record=\(recordA.recordID)", credential: secretB)
        #expect(status == 200 && body["received"] as? Int == 0 && body["complete"] as? Bool == false, "naming a record B may not see changes nothing")
        // Nor does a push tell B: a record of its own for the digest waits for B's own bytes.
        let clientB = SyncClient(baseURL: hub.url, credential: secretB)
        let recordB = signed(try attachmentChange(nodeB, seq: 1, sha256: sha, size: photo.count, caseID: "01JD0000000000000000000002", scope: villageB, now: hub.now), secretB)
        let pushedB = try await clientB.push(PushRequest(sender: nodeB, changes: [recordB]))
        #expect(pushedB.results.first?.rejection?.code == .attachmentBytesMissing, "\(pushedB.results)")

        (status, body) = try await get(hub, "/v1/attachments/\(sha)?record=\(recordA.recordID)", credential: secretA)
        #expect(status == 200 && body["received"] as? Int == photo.count && body["complete"] as? Bool == true)
    }

    @Test("the same photo attached to cases of two townships is two records, both taken")
    func samePhotoTwoTownships() async throws {
        let hub = try await RunningHub()
        let secretA = try hub.store.enrol(nodeA, jurisdiction: .township(townshipA), now: hub.now)
        let secretB = try hub.store.enrol(nodeB, jurisdiction: .township(townshipB), now: hub.now)
        let photo = Self.bytes(80_000, seed: 8)
        let sha = ContentDigest.sha256(photo)
        for (replica, secret, seq, caseID, village) in [(nodeA, secretA, UInt64(1), "01JD0000000000000000000001", villageA), (nodeB, secretB, 1, "01JD0000000000000000000002", villageB)] {
            let client = SyncClient(baseURL: hub.url, credential: secret)
            _ = try await AttachmentUploader(vault: try Self.vault(with: photo), transport: client).upload(sha, size: Int64(photo.count))
            let change = signed(try attachmentChange(replica, seq: seq, sha256: sha, size: photo.count, caseID: caseID, scope: village, now: hub.now), secret)
            let pushed = try await client.push(PushRequest(sender: replica, changes: [change]))
            #expect(pushed.results.map(\.outcome) == [.accepted], "\(pushed.results)")
        }
        #expect(try hub.store.attachments(ofCase: "01JD0000000000000000000001").map(\.sha256) == [sha])
        #expect(try hub.store.attachments(ofCase: "01JD0000000000000000000002").map(\.sha256) == [sha])
    }
}

@Suite("Attachment vault bounds")
struct AttachmentVaultBoundsTests {
    func vault() throws -> AttachmentVault {
        try AttachmentVault(folder: FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-vault-\(UUID().uuidString)"))
    }

    @Test("partial bytes are bounded per uploader (quota_exceeded) and expire; another uploader is not affected")
    func quotaAndExpiry() throws {
        var vault = try vault()
        vault.partialBytesMax = 10_000
        let x = String(repeating: "a", count: 64)
        let y = String(repeating: "b", count: 64)
        _ = try vault.append(x, uploader: "patrol:1", offset: 0, size: 8_000, bytes: Data(count: 6_000))
        do {
            _ = try vault.append(y, uploader: "patrol:1", offset: 0, size: 8_000, bytes: Data(count: 6_000))
            Issue.record("a second partial past the quota was taken")
        } catch let error as VaultError {
            #expect(error.code == .quotaExceeded && error.message.contains("6000 bytes"), "\(error)")
        }
        #expect(try vault.append(y, uploader: "node:2", offset: 0, size: 8_000, bytes: Data(count: 6_000)).received == 6_000)
        #expect(vault.partialBytes(of: "patrol:1") == 6_000)
        // A day and more later, the unfinished uploads are gone, and their quota free again.
        let later = Date().addingTimeInterval(vault.partialLifetime + 60)
        vault.sweep(now: later)
        #expect(vault.partialBytes(of: "patrol:1", now: later) == 0 && vault.partialBytes(of: "node:2", now: later) == 0)
        #expect(try vault.status(x, uploader: "patrol:1", mayKnow: false).received == 0)
        #expect(try vault.append(y, uploader: "patrol:1", offset: 0, size: 8_000, bytes: Data(count: 6_000), now: later).received == 6_000)
    }
}
