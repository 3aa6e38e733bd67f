import Foundation
import Testing
import TianzhangDomain
import TianzhangStore
@testable import TianzhangSync
import TianzhangTesting

/// Issue 10, finding 5: bounded work per change, and the expensive checks outside the write transaction.
@Suite("Admission: bounded work per change")
struct BoundedAdmissionTests {
    let node = try! ReplicaID("node:371312001")
    let village = try! DivisionCode("371312001201")

    func correction(_ seq: UInt64, _ polygon: Polygon) -> Change {
        Change(
            id: ChangeID(origin: node, seq: seq), recordType: .correction, recordID: "corr-\(seq)", scope: village, hlc: HLC(wall: 1000), author: "clerk",
            fields: [
                "parcelID": .set("p-1"), "proposed": .set(.object(["geometry": JSONValue(encoding: polygon)])), "reason": .set("resurveyed"),
                "requestedBy": .set("clerk"), "requestedAt": .set(1000),
            ])
    }

    var context: AdmissionContext { AdmissionContext(writerJurisdiction: .township(try! DivisionCode("371312001")), physicalNow: 61_000) }

    @Test("the largest polygons the limits allow are taken; one position or ring more is refused with geometry_too_large at the ring, before validation")
    func largestAllowed() {
        for rings in [1, 5, 64] {
            let polygon = LargePolygons.largest(rings: rings)
            #expect(polygon.vertexCount <= GeometryLimits.v1.polygonVerticesMax)
            #expect(Admission.check(correction(1, polygon), context: context) == nil, "\(rings) rings")
        }
        let long = Polygon(exterior: LargePolygons.comb(positions: 10_001, minLongitude: 118.3, minLatitude: 35.0, width: 0.01, height: 0.01))
        let rejection = Admission.check(correction(2, long), context: context)
        #expect(rejection?.code == .geometryTooLarge && rejection?.field == "ops.proposed.geometry.rings[0]", "\(String(describing: rejection))")
        // Size is checked before validity: an invalid ring over the limit is refused for its size.
        var invalid = long
        invalid.rings[0][5] = invalid.rings[0][9]
        #expect(Admission.check(correction(3, invalid), context: context)?.code == .geometryTooLarge)
    }

    @Test("precheck gives the verdicts check would reach, and check uses them instead of validating again")
    func precheckIsUsed() {
        let valid = LargePolygons.largest(rings: 2)
        let bowtie = Polygon(exterior: [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)].map { Coordinate(longitude: 118 + $0.0 * 1e-3, latitude: 35 + $0.1 * 1e-3) })
        let changes = [correction(1, valid), correction(2, bowtie), correction(3, Polygon(exterior: LargePolygons.comb(positions: 40_000, minLongitude: 118.3, minLatitude: 35.0, width: 0.01, height: 0.01)))]
        let prechecked = Admission.precheck(changes)
        #expect(prechecked.polygons == 3)
        for change in changes {
            var with = context
            with.prechecked = prechecked
            #expect(Admission.check(change, context: with) == Admission.check(change, context: context), "\(change.id)")
        }
        // A verdict of "valid" for an invalid polygon is taken as is: the check did not validate again.
        var lie = Admission.Prechecked()
        lie.geometry[ChangeID(origin: node, seq: 2)] = ["proposed.geometry": Rejection?.none]
        var with = context
        with.prechecked = lie
        #expect(Admission.check(correction(2, bowtie), context: context)?.code == .invalidGeometry)
        #expect(Admission.check(correction(2, bowtie), context: with) == nil)
    }

    @Test("SyncEngine.receive with and without the precheck gives the same answers and records the same refusals")
    func receiveWithPrecheck() throws {
        let hub = try ReplicaID("hub:371312")
        let changes = [correction(1, LargePolygons.largest(rings: 3)), correction(2, Polygon(exterior: LargePolygons.comb(positions: 12_000, minLongitude: 118.3, minLatitude: 35.0, width: 0.01, height: 0.01)))]
        let push = PushRequest(sender: node, changes: changes)
        let peer = Peer(replica: node, jurisdiction: .township(try DivisionCode("371312001")))
        var answers: [[ChangeResult]] = []
        for prechecked in [nil, Admission.precheck(changes)] {
            let store = InMemorySyncStore()
            let engine = SyncEngine()
            _ = try store.write { try engine.open(replica: hub, jurisdiction: .county(try DivisionCode("371312")), in: $0) }
            let response = try store.write { try engine.receive(push, from: peer, prechecked: prechecked, physicalNow: 61_000, in: $0) }
            answers.append(response.results)
            let receipt = try store.read { try $0.recordState(RecordKey(.receipt, self.node.rawValue)) }
            #expect(receipt?.registers["rejected"]?.elements.count == 1)
        }
        #expect(answers[0] == answers[1])
        #expect(answers[0].map(\.outcome) == [.accepted, .rejected])
        #expect(answers[0][1].rejection?.code == .geometryTooLarge)
    }

    @Test("a push is cut into write transactions of bounded size, and answers and stores exactly what one transaction would")
    func pushInSlices() throws {
        let hub = try ReplicaID("hub:371312")
        let township = try DivisionCode("371312001")
        let small = Polygon(exterior: LargePolygons.comb(positions: 40, minLongitude: 118.3, minLatitude: 35.0, width: 0.01, height: 0.01))
        let large = LargePolygons.largest(rings: 1)
        var changes = (1...40).map { correction(UInt64($0), $0 % 13 == 0 ? large : small) }
        changes[7] = correction(8, Polygon(exterior: LargePolygons.comb(positions: 12_000, minLongitude: 118.3, minLatitude: 35.0, width: 0.01, height: 0.01)))
        changes.append(changes[3]) // the same change twice: the second copy lands in another slice
        let slice = WriteSlice()
        let ranges = slice.slices(of: changes)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == changes.count)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        for range in ranges {
            let positions = changes[range].reduce(0) { $0 + WriteSlice.positionCount(in: $1) }
            #expect(range.count <= slice.changes && (positions <= slice.positions || range.count == 1), "\(range): \(positions) positions")
        }
        #expect(ranges.count >= 5, "\(ranges)")
        #expect(WriteSlice.positionCount(in: changes[12]) == large.vertexCount)

        let enrolment = Enrolment(replica: node, jurisdiction: .township(township), revoked: false)
        let authority = CredentialAuthority(name: "hub", enrolment: { _ in enrolment }, originJurisdiction: { _ in .township(township) }, originKeys: { _ in .notChecked })
        var answers: [[ChangeResult]] = [], logs: [[ChangeID]] = [], writes: [Int] = []
        for cut in [WriteSlice(changes: 1_000, positions: 1_000_000), slice] {
            let store = TimedStore(InMemorySyncStore())
            let engine = SyncEngine()
            _ = try store.write { try engine.open(replica: hub, jurisdiction: .county(try DivisionCode("371312")), in: $0) }
            var service = SyncService(store: store, attachments: nil, engine: engine, replica: hub, authority: authority, clock: { 61_000 })
            service.writeSlice = cut
            store.writes = []
            answers.append(try service.push(PushRequest(sender: node, changes: changes), enrolment).results)
            writes.append(store.writes.count)
            logs.append(try store.read { tx in try tx.logPage(after: 0, in: .county(try DivisionCode("371312")), excluding: nil, limit: 10_000).entries.map(\.change.id).filter { $0.origin == self.node } })
        }
        #expect(writes[0] == 1 && writes[1] == ranges.count)
        // The same outcome for every change; log positions differ only by the receipts each slice records.
        let outcomes = answers.map { $0.map { "\($0.id) \($0.outcome) \($0.rejection?.code.rawValue ?? "")" } }
        #expect(outcomes[0] == outcomes[1])
        #expect(logs[0] == logs[1] && logs[0].count == 39)
        #expect(answers[1][7].rejection?.code == .geometryTooLarge && answers[1].last?.outcome == .duplicate)
    }


    @Test("areas over 10,000,000 mu, rounds over 1,000, more than 64 ops or 16 unknown members are refused with their codes")
    func ranges() throws {
        let scope = village
        func newCase(_ extra: [String: FieldOperation] = [:], extensions: [String: JSONValue] = [:]) -> Change {
            var fields: [String: FieldOperation] = [
                "source": .set("patrol"), "violation": .set("soilExtraction"), "location": .set(["longitude": 118.3, "latitude": 35.0]),
                "township": .set("371312001"), "village": .set(.string(scope.rawValue)), "discoveredAt": .set(1_763_884_800_000),
                "summary": .set("x"), "affectedAreaMu": .set(1), "status": .set(WorkflowValue(status: .reported, round: 1).json),
            ]
            fields.merge(extra) { $1 }
            return Change(id: ChangeID(origin: node, seq: 1), recordType: .enforcementCase, recordID: "01JD0000000000000000000001", scope: scope,
                          hlc: HLC(wall: 1000), author: "clerk", fields: fields, extensions: extensions)
        }
        #expect(Admission.check(newCase(), context: context) == nil)
        #expect(Admission.check(newCase(["affectedAreaMu": .set(10_000_000)]), context: context) == nil)
        #expect(Admission.check(newCase(["affectedAreaMu": .set(1.2e29)]), context: context)?.code == .invalidValue)
        #expect(Admission.check(newCase(["status": .set(WorkflowValue(status: .reported, round: 1_001).json)]), context: context)?.field == "ops.status")
        var unknown: [String: FieldOperation] = [:]
        for i in 0..<20_000 { unknown["x\(i)"] = .set(.number(Double(i))) }
        let many = Admission.check(newCase(unknown), context: context)
        #expect(many?.code == .changeTooLarge && many?.field == "ops")
        #expect(Admission.check(newCase(extensions: Dictionary(uniqueKeysWithValues: (0..<17).map { ("x\($0)", JSONValue.number(1)) })), context: context)?.code == .changeTooLarge)
        #expect(Admission.check(newCase(extensions: Dictionary(uniqueKeysWithValues: (0..<16).map { ("x\($0)", JSONValue.number(1)) })), context: context) == nil)
    }

    @Test("a hello from a receiver that announces only the first three limits still decodes, with the v1 defaults for the rest")
    func oldHelloDecodes() throws {
        let limits = try JSONDecoder().decode(ProtocolLimits.self, from: Data(#"{"batchChangesMax":50,"batchBytesMax":65536,"pageChangesMax":100}"#.utf8))
        #expect(limits.batchChangesMax == 50 && limits.ringVerticesMax == 10_000 && limits.polygonRingsMax == 64 && limits.changeOpsMax == 64)
        let announced = try JSONDecoder().decode(ProtocolLimits.self, from: try JSONEncoder().encode(ProtocolLimits()))
        #expect(announced == ProtocolLimits())
    }
}
