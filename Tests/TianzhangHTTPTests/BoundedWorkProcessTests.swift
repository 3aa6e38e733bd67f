import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TianzhangTestGate
import TianzhangDomain
import TianzhangHTTP
import TianzhangSync
import TianzhangTesting

/// Issue 10, finding 5: one polygon must not freeze the county. A real `tianzhang hub serve` process.
@Suite("Bounded work per request: a real hub process", .serialized, .blocksAThread)
struct BoundedWorkProcessTests {
    /// POSTs a message as JSON; a generous timeout (the unbounded validator took 106 s for this ring).
    static func post(_ url: URL, _ body: Data, secret: String) async throws -> (Int, Data) {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = body
        request.timeoutInterval = 30
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(secret)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as! HTTPURLResponse).statusCode, data)
    }

    static func correction(origin: ReplicaID, village: DivisionCode, ring: [Coordinate]) -> Change {
        Change(
            id: ChangeID(origin: origin, seq: 1), recordType: .correction, recordID: "corr-\(origin.kind.rawValue)-1", scope: village,
            hlc: HLC(wall: Int64(Date().timeIntervalSince1970 * 1000)), author: "clerk", fields: [
                "parcelID": .set("p-1"), "proposed": .set(.object(["geometry": JSONValue(encoding: Polygon(exterior: ring))])),
                "reason": .set("resurveyed"), "requestedBy": .set("clerk"), "requestedAt": .set(1_763_884_800_000),
            ])
    }

    @Test("a node and a patrol each push a correction proposing a 40,000-position ring: refused with geometry_too_large within the request timeout, while another township's push in parallel is accepted and /health answers")
    func hugeRingIsRefusedWithoutStallingOthers() async throws {
        let world = try RelayWorld()
        let base = URL(string: "http://127.0.0.1:\(world.hubPort)")!
        let (a, b) = ("371312001", "371312002")
        let villageA = try #require(try world.villages(of: a).first), villageB = try DivisionCode("\(b)201")
        let nodeA = try ReplicaID("node:\(a)"), nodeB = try ReplicaID("node:\(b)"), patrol = try ReplicaID("patrol:chief-9")
        let secretA = try world.enrol(nodeA.rawValue, ["--township", a]), secretB = try world.enrol(nodeB.rawValue, ["--township", b])
        let patrolSecret = try world.enrol(patrol.rawValue, ["--villages", villageA.rawValue])

        let ring = LargePolygons.comb(positions: 40_000, minLongitude: 118.3, minLatitude: 35.0, width: 0.01, height: 0.01)
        let huge = try Wire.encoder.encode(PushRequest(sender: nodeA, changes: [signed(Self.correction(origin: nodeA, village: villageA, ring: ring), secretA)]))
        #expect(huge.count > 2_000_000 && huge.count < 4 * 1024 * 1024, "the body is under batchBytesMax: \(huge.count)")
        let hugeFromPatrol = try Wire.encoder.encode(PushRequest(sender: patrol, changes: [signed(Self.correction(origin: patrol, village: villageA, ring: ring), patrolSecret)]))
        let caseB = Change(
            id: ChangeID(origin: nodeB, seq: 1), recordType: .enforcementCase, recordID: "01JD0000000000000000000B01", scope: villageB,
            hlc: HLC(wall: Int64(Date().timeIntervalSince1970 * 1000)), author: "clerk", fields: [
                "source": .set("patrol"), "violation": .set("soilExtraction"), "location": .set(["longitude": 118.3, "latitude": 35.0]),
                "township": .set(.string(b)), "village": .set(.string(villageB.rawValue)), "discoveredAt": .set(1_763_884_800_000),
                "summary": .set("x"), "affectedAreaMu": .set(1), "status": .set(WorkflowValue(status: .reported, round: 1).json),
            ])
        let small = try Wire.encoder.encode(PushRequest(sender: nodeB, changes: [signed(caseB, secretB)]))

        async let fromNode = Self.post(base.appendingPathComponent("/v1/push"), huge, secret: secretA)
        async let fromPatrol = Self.post(base.appendingPathComponent("/v1/push"), hugeFromPatrol, secret: patrolSecret)
        async let other = Self.post(base.appendingPathComponent("/v1/push"), small, secret: secretB)
        async let health = URLSession.shared.data(from: base.appendingPathComponent("/health"))
        let (nodeStatus, nodeBody) = try await fromNode, (patrolStatus, patrolBody) = try await fromPatrol
        let (otherStatus, otherBody) = try await other
        let (_, healthResponse) = try await health

        #expect((healthResponse as! HTTPURLResponse).statusCode == 200)
        #expect(otherStatus == 200)
        #expect(try JSONDecoder().decode(PushResponse.self, from: otherBody).results.map(\.outcome) == [.accepted])
        for (status, body) in [(nodeStatus, nodeBody), (patrolStatus, patrolBody)] {
            #expect(status == 200, "\(String(decoding: body.prefix(300), as: UTF8.self))")
            let result = try #require(try JSONDecoder().decode(PushResponse.self, from: body).results.first)
            #expect(result.outcome == .rejected)
            #expect(result.rejection?.code == .geometryTooLarge)
            #expect(result.rejection?.field == "ops.proposed.geometry.rings[0]")
        }
    }
}
