import Foundation
import Testing
import TianzhangDomain
import TianzhangStore
import TianzhangSync
import TianzhangTesting

/// Loads `Protocol/vectors/…` (normative): if code and spec drift apart, these fail.
enum Vectors {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol/vectors")

    static func files(_ folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }

    static func load(_ folder: String, _ name: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: root.appendingPathComponent(folder).appendingPathComponent(name)))
    }

    /// The real GB/T 21010 list, read from the project's copy.
    static func landClasses() throws -> LandClassCatalog {
        let url = root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/TianzhangReference/Resources/land-classes-gbt21010-2017.csv")
        return try LandClassCatalog(csv: String(decoding: Data(contentsOf: url), as: UTF8.self))
    }

    static func changes(_ value: JSONValue?) throws -> [Change] {
        try (value?.arrayValue ?? []).map { try $0.decode(as: Change.self) }
    }

    static func fold(_ changes: [Change]) -> RecordState {
        var state = RecordState(first: changes[0], key: changes[0].key!)
        for change in changes.dropFirst() { state.apply(change) }
        return state
    }

    /// Every ordering of up to 5 changes; a fixed sample of orderings beyond that.
    static func orderings(_ changes: [Change]) -> [[Change]] {
        func permutations(_ items: [Change]) -> [[Change]] {
            guard items.count > 1 else { return [items] }
            return items.indices.flatMap { i -> [[Change]] in
                var rest = items
                let head = rest.remove(at: i)
                return permutations(rest).map { [head] + $0 }
            }
        }
        if changes.count <= 5 { return permutations(changes) }
        var rng = SplitMix64(seed: 7)
        return (0..<200).map { _ in changes.shuffled(using: &rng) }
    }
}

@Suite("Golden vectors (Protocol/vectors)")
struct GoldenVectorTests {
    @Test("the vector folders are present and non-empty")
    func vectorsExist() {
        #expect(Vectors.files("merge").count >= 15)
        #expect(Vectors.files("admission").count >= 15)
        #expect(Vectors.files("messages").count >= 6)
        #expect(Vectors.files("signatures").count >= 6)
        #expect(Vectors.files("admission").filter { $0.hasPrefix("workflow-") }.count >= 8)
    }

    @Test("every row of Protocol/CONFLICTS.md has a golden vector that names it, and every vector names a row of the table")
    func everyConflictRowHasAVector() throws {
        let table = try String(contentsOf: Vectors.root.deletingLastPathComponent().appendingPathComponent("CONFLICTS.md"), encoding: .utf8)
        let rows = table.split(separator: "\n").compactMap { line -> String? in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 2, cells[1].count == 2, cells[1].first!.isUppercase, cells[1].last!.isNumber else { return nil }
            return cells[1]
        }
        #expect(rows.count >= 15, "the table's rows: \(rows)")
        #expect(Set(rows).count == rows.count, "a row id is used twice: \(rows)")
        var named: [String: [String]] = [:]
        for folder in ["merge", "malformed", "admission"] {
            for file in Vectors.files(folder) {
                if let row = try Vectors.load(folder, file)["row"]?.stringValue { named[row, default: []].append("\(folder)/\(file)") }
            }
        }
        for row in rows { #expect(named[row] != nil, "CONFLICTS.md row \(row) has no golden vector") }
        #expect(Set(named.keys).subtracting(rows).isEmpty, "vectors name rows the table does not have: \(Set(named.keys).subtracting(rows))")
    }

    @Test("merge vectors: every ordering gives the expected state and conflicts", arguments: Vectors.files("merge"))
    func mergeVector(file: String) throws {
        let vector = try Vectors.load("merge", file)
        let changes = try Vectors.changes(vector["changes"])
        let expect = try #require(vector["expect"])
        for ordering in Vectors.orderings(changes) {
            let state = Vectors.fold(ordering)
            var counted = RecordState(first: ordering[0], key: ordering[0].key!)
            let folded = 1 + ordering.dropFirst().filter { counted.apply($0) }.count
            for (field, value) in expect["fields"]?.objectValue ?? [:] {
                #expect(state.materialized[field] == value, "\(file): \(field) in order \(ordering.map(\.id.description))")
            }
            // The conflicts in the protocol's one shape (CONFLICTS.md, `$defs/conflict`), as a push answer carries them.
            let conflicts = JSONValue(encoding: state.conflicts)
            #expect(conflicts == expect["conflicts"] ?? .array([]), "\(file) in order \(ordering.map(\.id.description)): \(conflicts.canonicalText)")
            if let count = expect["changeCount"]?.numberValue { #expect(folded == Int(count)) }
        }
    }

    @Test("the state digest vector (Protocol/vectors/digest, computed by Protocol/tools/state_digest.py): same records, conflicts and digest")
    func digestVector() throws {
        let vector = try Vectors.load("digest", "state-digest.json")
        let cases = try #require(vector["cases"]?.arrayValue)
        #expect(cases.count >= 3)
        for item in cases {
            let name = item["name"]?.stringValue ?? "?"
            let changes = try Vectors.changes(item["changes"])
            let byRecord = Dictionary(grouping: changes, by: { $0.key! })
            let states = byRecord.values.map { Vectors.fold($0) }.sorted { $0.key < $1.key }
            let records = item["records"]?.arrayValue ?? []
            let byKey = Dictionary(uniqueKeysWithValues: records.compactMap { record in record["key"]?.stringValue.map { ($0, record) } })
            #expect(Set(states.map(\.key.description)) == Set(byKey.keys), "\(name)")
            for state in states {
                let record = byKey[state.key.description] ?? .null
                #expect(state.materialized == record["materialized"], "\(name) \(state.key)")
                #expect(JSONValue(encoding: state.conflicts) == record["conflicts"], "\(name) \(state.key)")
            }
            #expect(StateDigest.of(states) == item["digest"]?.stringValue, "\(name)")
        }
    }

    @Test("admission vectors: each bad change is refused with its documented code and field", arguments: Vectors.files("admission"))
    func admissionVector(file: String) throws {
        let vector = try Vectors.load("admission", file)
        let change = try #require(try vector["change"]?.decode(as: Change.self))
        let context = try #require(vector["context"])
        let writer = try #require(try context["writer"]?.decode(as: Jurisdiction.self))
        let existing = try Vectors.changes(context["existing"])
        // A status write is checked from the statuses its base names, as the receiver's log holds them.
        var baseStatuses: [WorkflowValue]?
        if change.recordType == .enforcementCase, change.origin.kind != .hub, change.fields["status"] != nil, !change.base.isEmpty {
            baseStatuses = existing.filter { change.base.contains($0.id) }.compactMap { logged -> WorkflowValue? in
                guard case .set(let value) = logged.fields["status"] else { return nil }
                return WorkflowValue(value)
            }
        }
        let admission = AdmissionContext(
            writerJurisdiction: writer, physicalNow: Int64(context["physicalNow"]?.numberValue ?? 0),
            existing: existing.isEmpty ? nil : Vectors.fold(existing), landClasses: try Vectors.landClasses(), baseStatuses: baseStatuses)
        let rejection = Admission.check(change, context: admission)
        if let code = vector["code"]?.stringValue {
            #expect(rejection?.code.rawValue == code, "\(file): \(rejection.map(String.init(describing:)) ?? "accepted")")
            #expect(rejection?.field == vector["field"]?.stringValue, "\(file)")
            #expect((rejection?.message.count ?? 0) > 20, "a refusal explains itself")
        } else {
            #expect(rejection == nil, "\(file): \(rejection.map(String.init(describing:)) ?? "")")
        }
    }

    @Test("signature vectors (written by an independent implementation, scripts/signature_vectors.py): the key from the credential, the signed bytes, valid and forged", arguments: Vectors.files("signatures"))
    func signatureVector(file: String) throws {
        let vector = try Vectors.load("signatures", file)
        let credential = try #require(vector["credential"]?.stringValue)
        #expect(ChangeSigning.seed(fromCredential: credential) == vector["seed"]?.stringValue, "\(file): HKDF seed")
        #expect(ChangeSigning.publicKey(fromCredential: credential) == vector["publicKey"]?.stringValue, "\(file): public key")
        let change = try #require(try vector["change"]?.decode(as: Change.self))
        #expect(String(decoding: ChangeSigning.signedBytes(change), as: UTF8.self) == vector["signedBytes"]?.stringValue, "\(file): canonical bytes")
        let keys = (vector["keys"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(ChangeSigning.verify(change, publicKeys: keys) == (vector["valid"] == .bool(true)), "\(file)")
        // Our own signature over the same change verifies under the credential's key, and only there.
        var ours = change
        ChangeSigning.sign(&ours, seed: ChangeSigning.seed(fromCredential: credential))
        #expect(ChangeSigning.verify(ours, publicKeys: [ChangeSigning.publicKey(fromCredential: credential)]))
        #expect(!ChangeSigning.verify(ours, publicKeys: [ChangeSigning.publicKey(fromCredential: credential + "x")]))
    }

    @Test("message vectors decode and re-encode to the same canonical JSON", arguments: Vectors.files("messages"))
    func messageVector(file: String) throws {
        let vector = try Vectors.load("messages", file)
        let json = try #require(vector["json"])
        let reencoded: JSONValue
        switch vector["message"]?.stringValue {
        case "HelloRequest": reencoded = JSONValue(encoding: try json.decode(as: HelloRequest.self))
        case "HelloResponse": reencoded = JSONValue(encoding: try json.decode(as: HelloResponse.self))
        case "PushRequest": reencoded = JSONValue(encoding: try json.decode(as: PushRequest.self))
        case "PushResponse": reencoded = JSONValue(encoding: try json.decode(as: PushResponse.self))
        case "PullRequest": reencoded = JSONValue(encoding: try json.decode(as: PullRequest.self))
        case "PullResponse": reencoded = JSONValue(encoding: try json.decode(as: PullResponse.self))
        default:
            Issue.record("\(file): unknown message type")
            return
        }
        #expect(reencoded.canonicalText == json.canonicalText)
        // A vector naming a log entry's cursor token: the server's token for that entry is the one given.
        if let token = vector["token"], let seq = token["seq"]?.numberValue, let id = token["changeID"]?.stringValue {
            let store = InMemorySyncStore()
            let engine = SyncEngine()
            let change = Change(id: try #require(ChangeID(id)), recordType: .receipt, recordID: "r", scope: try DivisionCode("371312"), hlc: HLC(wall: 1), author: "a", fields: ["accepted": .add([1])])
            let tokenGiven = try store.write { tx -> String? in
                try engine.open(replica: try ReplicaID("node:371312001"), jurisdiction: .county(try DivisionCode("371312")), in: tx)
                for filler in 1..<UInt64(seq) {
                    var other = change
                    other.id = ChangeID(origin: try ReplicaID("hub:371312"), seq: 100_000 + filler)
                    _ = try tx.appendLog(other, delivery: .received, rejection: nil)
                }
                _ = try tx.appendLog(change, delivery: .received, rejection: nil)
                return try engine.cursorToken(at: UInt64(seq), meta: try tx.meta()!, in: tx)
            }
            #expect(tokenGiven == token["cursorToken"]?.stringValue, "\(file)")
        }
    }

    @Test("a change truncated at any byte is refused with a decoding error, never a crash")
    func truncatedChange() throws {
        let vector = try Vectors.load("messages", "push-request.json")
        let bytes = Array(Canonical.data(try #require(vector["json"])))
        var failures = 0
        for cut in 0..<bytes.count {
            do {
                _ = try JSONDecoder().decode(PushRequest.self, from: Data(bytes[..<cut]))
            } catch {
                failures += 1
            }
        }
        #expect(failures == bytes.count, "every strict prefix must fail to decode")
        #expect(try JSONDecoder().decode(PushRequest.self, from: Data(bytes)).changes.count == 2)
    }
}

@Suite("JSON Schemas (Protocol/schemas)")
struct SchemaTests {
    @Test("every message and change vector validates against the schemas")
    func vectorsValidate() throws {
        let script = Vectors.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/check-schemas.py")
        let result = try ChildProcess.run("/usr/bin/env", ["python3", script.path])
        let text = result.output + result.error
        #expect(result.status == 0, "\(text)")
        #expect(text.contains(" 0 failures"), "\(text)")
    }
}

@Suite("Malformed changes (Protocol/vectors/malformed)")
struct MalformedVectorTests {
    @Test("each malformed change fails to decode, with an error that says what is wrong", arguments: Vectors.files("malformed"))
    func malformed(file: String) throws {
        let vector = try Vectors.load("malformed", file)
        if let push = vector["push"] {
            // A push with changes whose id cannot be read: they are set aside with their places (SPEC §4.1).
            let request = try push.decode(as: PushRequest.self)
            let expect = try #require(vector["expect"])
            #expect(request.changes.map(\.id.description) == expect["changes"]?.arrayValue?.compactMap(\.stringValue), "\(file)")
            let unreadable = expect["unreadable"]?.arrayValue ?? []
            #expect(request.unreadable.map(\.index) == unreadable.compactMap { $0["index"]?.numberValue.map { Int($0) } }, "\(file)")
            #expect(request.unreadable.map(\.sentID) == unreadable.compactMap { $0["id"]?.stringValue }, "\(file)")
            #expect(request.unreadable.map(\.rejection.code.rawValue) == Array(repeating: "invalid_identifier", count: unreadable.count), "\(file)")
            #expect(request.unreadable.map(\.rejection.field) == unreadable.map { $0["field"]?.stringValue }, "\(file)")
            // The answers stand in request order, the unreadable ones naming the id as sent.
            let received = request.changes.map { ChangeResult(id: $0.id, outcome: .accepted, seq: 1) }
            let answers = request.interleaving(received)
            #expect(answers.count == push["changes"]?.arrayValue?.count, "\(file)")
            for item in unreadable {
                let index = Int(try #require(item["index"]?.numberValue))
                #expect(JSONValue(encoding: answers[index])["id"] == item["id"], "\(file)")
            }
            return
        }
        let change = try #require(vector["change"])
        do {
            _ = try change.decode(as: Change.self)
            Issue.record("\(file): decoded")
        } catch {
            #expect("\(error)".contains(vector["error"]?.stringValue ?? "?"), "\(file): \(error)")
        }
    }
}
