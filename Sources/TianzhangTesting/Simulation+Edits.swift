import Foundation
import TianzhangDomain
import TianzhangStore
import TianzhangSync

extension Simulation {
    /// The villages a replica writes in.
    func villages(of replica: Replica) -> [DivisionCode] {
        switch replica.jurisdiction {
        case .villages(let set): return set.sorted()
        case .township(let township), .adjustedTownship(let township, _, _):
            return (1...configuration.patrolsPerTownship).map { try! DivisionCode(township.rawValue + "20\($0)") } + [try! DivisionCode(township.rawValue + "209")]
        case .county:
            return order.filter { $0.kind == .node }.flatMap { node -> [DivisionCode] in
                guard case .township(let township) = replicas[node]!.jurisdiction else { return [] }
                return (1...configuration.patrolsPerTownship).map { try! DivisionCode(township.rawValue + "20\($0)") }
            }
        }
    }

    func pick<T>(_ items: [T]) -> T? { items.isEmpty ? nil : items[Int(rng.next() % UInt64(items.count))] }

    /// The hub starts with a few parcels in every village.
    func seedParcels() {
        let hub = replicas[hubID]!
        let villages = villages(of: hub) + order.filter { $0.kind == .node }.map { try! DivisionCode(String($0.rawValue.suffix(9)) + "209") }
        for village in villages {
            for n in 1...2 {
                let lon = 118.3 + Double(n) * 0.001, lat = 35.0
                let ring = [(0.0, 0.0), (0.001, 0.0), (0.001, 0.001), (0.0, 0.001), (0.0, 0.0)].map { Coordinate(longitude: lon + $0.0, latitude: lat + $0.1) }
                let fields: [String: FieldOperation] = [
                    "village": .set(.string(village.rawValue)), "landClass": .set("0101"), "areaMu": .set(15),
                    "isPermanentBasicFarmland": .set(true), "fieldChief": .set(.string("chief-\(village.rawValue)")),
                    "geometry": .set(JSONValue(encoding: Polygon(exterior: ring))),
                ]
                _ = try! hub.store.write { tx in
                    try engine.record(Draft(type: .parcel, id: "\(village.rawValue)-000\(n)", scope: village, author: "dispatcher", fields: fields), physicalNow: physical(hub), in: tx)
                }
            }
        }
    }

    func edit(_ replica: Replica) {
        let records = replica.store.snapshot().records
        func ofType(_ type: RecordType) -> [RecordState] {
            records.values.filter { $0.key.type == type && replica.jurisdiction.covers($0.scope) }.sorted { $0.key.id < $1.key.id }
        }
        let cases = ofType(.enforcementCase)
        let parcels = ofType(.parcel)
        let author = "\(replica.id.kind.rawValue)-user"
        var draft: Draft?
        let roll = rng.next() % 100
        let role = replica.id.role
        switch roll {
        case 0..<18:
            guard let village = pick(villages(of: replica)) else { return }
            let id = RecordID.generate(at: Timestamp(milliseconds: physical(replica)), using: &rng).rawValue
            draft = Draft(type: .enforcementCase, id: id, scope: village, author: author, fields: [
                "source": .set(.string(role == .patrol ? "patrol" : "towerCamera")), "violation": .set("soilExtraction"),
                "location": .set(["longitude": 118.3, "latitude": 35.0]), "township": .set(.string(village.township!.rawValue)),
                "village": .set(.string(village.rawValue)), "discoveredAt": .set(.number(Double(physical(replica)))),
                "summary": .set("earth-moving seen"), "affectedAreaMu": .set(1.5),
                "status": .set(WorkflowValue(status: .reported, round: 1).json),
            ])
        case 18..<45:
            guard let state = pick(cases), let current = state.materialized["status"].flatMap({ _ in currentWorkflow(state) }) else { return }
            var successors = CaseWorkflow.successors(of: current.status).sorted { $0.rawValue < $1.rawValue }
            successors.removeAll { next in (try? CaseWorkflow.check(from: current.status, to: next, by: role)) == nil }
            guard let next = pick(successors) else { return }
            let value = WorkflowValue(
                status: next, round: current.status == .closed ? current.round + 1 : current.round,
                decision: next == .reported ? nil : (next.isDecision ? next : current.decision))
            draft = Draft(type: .enforcementCase, id: state.key.id, scope: state.scope, author: author, fields: ["status": .set(value.json)])
        case 45..<60:
            guard let state = pick(cases) else { return }
            let id = RecordID.generate(at: Timestamp(milliseconds: physical(replica)), using: &rng).rawValue
            draft = Draft(type: .timelineEntry, id: id, scope: state.scope, author: author, fields: [
                "caseID": .set(.string(state.key.id)), "kind": .set("note"), "text": .set(.string("note \(rng.next() % 1000)")),
                "attachmentIDs": .set([]), "author": .set(.string(author)), "at": .set(.number(Double(physical(replica)))),
            ])
        case 60..<70:
            guard let state = pick(cases) else { return }
            draft = Draft(type: .enforcementCase, id: state.key.id, scope: state.scope, author: author, fields: [
                "summary": .set(.string("summary \(rng.next() % 7)")),
            ])
        case 70..<74:
            guard replica.id.kind != .hub, let state = pick(cases) else { return }
            return photograph(state, at: replica)
        case 74..<78:
            guard let state = pick(cases) else { return }
            draft = Draft(type: .enforcementCase, id: state.key.id, scope: state.scope, author: author, fields: [
                "assignees": .add([.string("officer-\(rng.next() % 5)")]),
            ])
        case 78..<88:
            guard let parcel = pick(parcels) else { return }
            if role == .patrol {
                let id = RecordID.generate(at: Timestamp(milliseconds: physical(replica)), using: &rng).rawValue
                draft = Draft(type: .checkIn, id: id, scope: parcel.scope, author: author, fields: [
                    "parcelID": .set(.string(parcel.key.id)), "village": .set(.string(parcel.scope.rawValue)), "author": .set(.string(author)),
                    "at": .set(.number(Double(physical(replica)))), "position": .set(["longitude": 118.3, "latitude": 35.0]),
                    "accuracyMetres": .set(5), "observation": .set("all normal"),
                ])
            } else {
                draft = Draft(type: .parcel, id: parcel.key.id, scope: parcel.scope, author: author, fields: [
                    "note": .set(.string("note \(rng.next() % 9)")),
                ])
            }
        default:
            // Below the county this is refused locally (reference data is the hub's), and counted.
            guard let parcel = pick(parcels) else { return }
            draft = Draft(type: .parcel, id: parcel.key.id, scope: parcel.scope, author: author, fields: [
                "areaMu": .set(.number(Double(10 + rng.next() % 10))),
            ])
        }
        guard let draft else { return }
        do {
            let change = try replica.store.write { tx in try engine.record(draft, physicalNow: physical(replica), in: tx) }
            made(change, by: replica)
            count("edits")
            log("\(replica.id) writes \(change.id) \(draft.type.rawValue)/\(draft.id) \(draft.fields.keys.sorted())")
        } catch {
            count("refused locally")
        }
    }

    /// Notes a change a replica made (under an id its origin may have used before, after a restore).
    func made(_ change: Change, by replica: Replica) {
        if let first = created[change.id], !ChangeSigning.sameContent(first, change) {
            createdAgain[change.id, default: []].append(change)
        } else {
            created[change.id] = change
        }
        if let learnt = lastHello[replica.id], learnt > (clockChangedAt[replica.id] ?? -1) { stampedInCountyTime.insert(change.id) }
    }

    /// A photo of a case as evidence: its bytes into the replica's vault, then its attachment record and
    /// a timeline entry in one transaction (as the patrol client and the clerk's CLI do). A third of the
    /// photos are bytes another replica photographed too (the same picture sent to two devices).
    func photograph(_ state: RecordState, at replica: Replica) {
        let bytes: Data
        if rng.chance(0.35), let shared = pick(photoBytes.keys.sorted()) {
            bytes = photoBytes[shared]!
        } else {
            var random = Data(count: 2_000 + Int(rng.next() % 14_000))
            for index in random.indices { random[index] = UInt8(truncatingIfNeeded: rng.next()) }
            bytes = random
        }
        do {
            try FileManager.default.createDirectory(at: replica.vault, withIntermediateDirectories: true)
            let file = folder.appendingPathComponent("photo-\(tick)-\(replica.id.rawValue.replacingOccurrences(of: ":", with: "_")).jpg")
            try bytes.write(to: file)
            let (sha256, size) = try AttachmentVault(folder: replica.vault).put(contentsOf: file)
            try? FileManager.default.removeItem(at: file)
            if let earlier = photoBytes[sha256], earlier == bytes { sharedPhotos.insert(sha256) } else { photoBytes[sha256] = bytes }
            let caseID = try RecordID(state.key.id)
            let author = "\(replica.id.kind.rawValue)-user"
            let now = Timestamp(milliseconds: physical(replica))
            let metadata = AttachmentMetadata(sha256: sha256, sizeBytes: size, mediaType: "image/jpeg", caseID: caseID, createdAt: now, author: author)
            let recordID = AttachmentMetadata.recordID(sha256: sha256, caseID: caseID)
            let changes = try replica.store.write { tx -> [Change] in
                guard try tx.recordState(RecordKey(.attachment, recordID)) == nil else { return [] }
                let record = try engine.record(Draft(creating: metadata, type: .attachment, id: recordID, scope: state.scope, author: author), physicalNow: physical(replica), in: tx)
                let entry = TimelineEntry(id: RecordID.generate(at: now, using: &rng), caseID: caseID, kind: .evidence, text: "photo", attachmentIDs: [sha256], author: author, at: now)
                let timeline = try engine.record(Draft(creating: entry, type: .timelineEntry, id: entry.id.rawValue, scope: state.scope, author: author), physicalNow: physical(replica), in: tx)
                return [record, timeline]
            }
            for change in changes { made(change, by: replica) }
            if !changes.isEmpty { count("photos") }
            log("\(replica.id) photographs \(sha256.prefix(8)) (\(size) B) for \(state.key.id)")
        } catch {
            count("refused locally")
        }
    }

    func currentWorkflow(_ state: RecordState) -> WorkflowValue? {
        guard let value = state.registers["status"]?.resolve(.workflow).value else { return nil }
        return WorkflowValue(value)
    }
}
