import Foundation
import Testing
import TianzhangDomain
import TianzhangPatrol
import TianzhangSQLite
import TianzhangSync

/// A clock the test moves by hand.
final class TestClock: @unchecked Sendable {
    let lock = NSLock()
    var value: Int64
    init(_ value: Int64) { self.value = value }
    var now: Int64 { lock.withLock { value } }
    func advance(minutes: Int64) { lock.withLock { value += minutes * 60_000 } }
}

/// A county hub store with two parcels (one with a hole) and a task for the chief, and a patrol device
/// that has pulled its village from it — the sync engine driven directly, no network.
struct PatrolWorld {
    static let start: Int64 = 1_763_884_800_000
    let folder: URL
    let engine = SyncEngine()
    let hub: SQLiteReplicaStore
    let hubID = try! ReplicaID("hub:371312")
    let patrolID = try! ReplicaID("patrol:chief-371312001201")
    let village = try! DivisionCode("371312001201")
    let clock = TestClock(start)
    let patrol: PatrolClient
    let taskID = "01JD0000000000000000TASK01"
    let caseID = "01JD0000000000000000CASE01"

    /// A square parcel about 100 m on a side at (118.4, 35.1) …
    static let square = Polygon(exterior: [
        Coordinate(longitude: 118.4000, latitude: 35.1000), Coordinate(longitude: 118.4011, latitude: 35.1000),
        Coordinate(longitude: 118.4011, latitude: 35.1009), Coordinate(longitude: 118.4000, latitude: 35.1009),
        Coordinate(longitude: 118.4000, latitude: 35.1000),
    ])
    /// … and one east of it with a pond (a hole) in the middle.
    static let holed = Polygon(
        exterior: [
            Coordinate(longitude: 118.4030, latitude: 35.1000), Coordinate(longitude: 118.4060, latitude: 35.1000),
            Coordinate(longitude: 118.4060, latitude: 35.1027), Coordinate(longitude: 118.4030, latitude: 35.1027),
            Coordinate(longitude: 118.4030, latitude: 35.1000),
        ],
        holes: [[
            Coordinate(longitude: 118.4040, latitude: 35.1009), Coordinate(longitude: 118.4040, latitude: 35.1018),
            Coordinate(longitude: 118.4050, latitude: 35.1018), Coordinate(longitude: 118.4050, latitude: 35.1009),
            Coordinate(longitude: 118.4040, latitude: 35.1009),
        ]])

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-patrol-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        hub = try SQLiteReplicaStore(path: folder.appendingPathComponent("hub.sqlite").path)
        let (engine, hubID, village, now, caseID, taskID) = (engine, hubID, village, Self.start, caseID, taskID)
        let parcels = [
            Parcel(id: try RecordID("371312001201-0001"), village: village, landClass: "0102", areaMu: 16.4, isPermanentBasicFarmland: true, fieldChief: "chief-371312001201", geometry: Self.square),
            Parcel(id: try RecordID("371312001201-0002"), village: village, landClass: "0101", areaMu: 40.1, isPermanentBasicFarmland: false, fieldChief: "chief-371312001201", geometry: Self.holed),
        ]
        let discovered = Timestamp(milliseconds: now - 20 * 60_000)
        let task = VerificationTask(
            id: try RecordID(taskID), caseID: try RecordID(caseID), recipient: .fieldChief, assignee: "chief-371312001201",
            township: village.township!, village: village, createdAt: discovered, deadlines: ThreeOnesDeadlines(discoveredAt: discovered))
        let suspected = EnforcementCase(
            id: try RecordID(caseID), source: .satellite, violation: .soilExtraction, location: Self.square.interiorPoint,
            township: village.township!, village: village, discoveredAt: discovered, summary: "疑似取土")
        try hub.write { tx in
            try engine.open(replica: hubID, jurisdiction: .county(village.county), in: tx)
            for parcel in parcels {
                try engine.record(Draft(creating: parcel, type: .parcel, id: parcel.id.rawValue, scope: village, author: "dispatcher"), physicalNow: now, in: tx)
            }
            try engine.record(Draft(creating: suspected, type: .enforcementCase, id: caseID, scope: village, author: "dispatcher"), physicalNow: now, in: tx)
            try engine.record(Draft(creating: task, type: .verificationTask, id: taskID, scope: village, author: "dispatcher"), physicalNow: now, in: tx)
        }
        let clock = clock
        patrol = try PatrolClient(
            storePath: folder.appendingPathComponent("patrol.sqlite").path, clock: { clock.now },
            location: FixedLocation(longitude: 118.4005, latitude: 35.1004))
        try patrol.adopt(replica: patrolID, jurisdiction: .villages([village]), person: "chief-371312001201")
        try pull()
    }

    var grant: Peer { Peer(replica: patrolID, jurisdiction: .villages([village])) }

    func pull() throws {
        let cursor = try patrol.store.read { try $0.checkpoint(peer: "hub") }
        let page = try hub.read { try engine.servePull(PullRequest(puller: patrolID, after: cursor, limit: 1000), for: grant, in: $0) }
        try patrol.store.write { try engine.apply(page, from: "hub", physicalNow: clock.now, in: $0) }
    }

    /// Pushes the device's outbox to the hub; returns the hub's answer.
    @discardableResult
    func push(_ request: PushRequest? = nil) throws -> PushResponse? {
        guard let request = try request ?? patrol.store.read({ try engine.nextPush(in: $0) }) else { return nil }
        let response = try hub.write { tx in
            try engine.receive(request, from: grant, originJurisdiction: { _ in .villages([village]) }, physicalNow: clock.now, in: tx)
        }
        _ = try patrol.store.write { try engine.handle(response, in: $0) }
        return response
    }

    func photo(_ name: String, bytes: Int, seed: UInt8) throws -> URL {
        let url = folder.appendingPathComponent(name)
        var data = Data([0xFF, 0xD8, 0xFF, 0xE0])
        data.append(contentsOf: (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) })
        try data.write(to: url)
        return url
    }
}

@Suite("Patrol client core")
struct PatrolClientTests {
    @Test("one village, one map: the device holds its village's parcels and finds the nearest first")
    func nearbyParcels() throws {
        let world = try PatrolWorld()
        let near = try world.patrol.parcels(near: Coordinate(longitude: 118.4005, latitude: 35.1004), within: 1_000)
        #expect(near.map(\.parcel.id.rawValue) == ["371312001201-0001", "371312001201-0002"])
        #expect(near[0].distanceMetres == 0)
        #expect(near[1].distanceMetres > 220 && near[1].distanceMetres < 235)  // 0.0025° of longitude at 35.1° N ≈ 227.6 m
        #expect(try world.patrol.parcels(near: Coordinate(longitude: 118.5, latitude: 35.2), within: 1_000).isEmpty)
    }

    @Test("geofence: inside, outside, on the edge, near a vertex, in a parcel's hole", arguments: [
        // (parcel, longitude, latitude, expected: "inside" | "within" | "outside", min, max distance)
        ("371312001201-0001", 118.40055, 35.10045, "inside", 0.0, 0.0),
        ("371312001201-0001", 118.4011, 35.10045, "inside", 0.0, 0.0),          // on the east edge: the boundary belongs to the parcel
        ("371312001201-0001", 118.40113, 35.10092, "within", 3.0, 6.0),         // ~4 m past the north-east vertex
        ("371312001201-0001", 118.4020, 35.10045, "outside", 75.0, 90.0),       // ~82 m east
        ("371312001201-0002", 118.4045, 35.10135, "outside", 40.0, 55.0),       // in the middle of the pond
        ("371312001201-0002", 118.40405, 35.10135, "within", 3.0, 6.0),         // in the pond, ~4.6 m from its bank
    ])
    func geofence(parcel: String, longitude: Double, latitude: Double, expected: String, minimum: Double, maximum: Double) async throws {
        let world = try PatrolWorld()
        let checkIn = try await world.patrol.checkIn(
            parcel: parcel, observation: "crops normal",
            fix: LocationFix(position: Coordinate(longitude: longitude, latitude: latitude), accuracyMetres: 5))
        let stored = try #require(try world.patrol.store.checkIn(checkIn.id.rawValue))
        #expect(stored.geofence == checkIn.geofence)
        switch try #require(stored.geofence) {
        case .inside: #expect(expected == "inside")
        case .withinTolerance(let distance):
            #expect(expected == "within")
            #expect(distance >= minimum && distance <= maximum, "distance \(distance)")
        case .outside(let distance):
            #expect(expected == "outside")
            #expect(distance >= minimum && distance <= maximum, "distance \(distance)")
        }
    }

    @Test("a check-in without a fix uses the injected position; with no position source it is refused and nothing is recorded")
    func checkInLocation() async throws {
        let world = try PatrolWorld()
        let checkIn = try await world.patrol.checkIn(parcel: "371312001201-0001", observation: "ok")
        #expect(checkIn.position == Coordinate(longitude: 118.4005, latitude: 35.1004))
        #expect(checkIn.geofence == .inside)
        #expect(checkIn.at.milliseconds == PatrolWorld.start)
        let blind = try PatrolClient(storePath: world.patrol.store.path!, clock: { 0 }, location: NoLocation())
        await #expect(throws: PatrolError.self) { try await blind.checkIn(parcel: "371312001201-0001", observation: "ok") }
        await #expect(throws: PatrolError(.notFound, "No parcel 371312001201-9999 in this device's villages; sync to download them.")) {
            try await world.patrol.checkIn(parcel: "371312001201-9999", observation: "ok")
        }
        #expect(try world.patrol.pending().items.count == 1)
    }

    @Test("the same check-in sent twice is stored once; the second answer is a duplicate")
    func checkInTwice() async throws {
        let world = try PatrolWorld()
        let checkIn = try await world.patrol.checkIn(parcel: "371312001201-0001", observation: "ditch blocked")
        let request = try #require(try world.patrol.store.read { try world.engine.nextPush(in: $0) })
        let first = try #require(try world.push(request))
        let second = try #require(try world.push(request))
        #expect(first.results.map(\.outcome) == [.accepted])
        #expect(second.results.map(\.outcome) == [.duplicate])
        #expect(second.results[0].seq == first.results[0].seq)
        let rows = try world.hub.checkIns(onDay: Timestamp(milliseconds: PatrolWorld.start).day(), village: world.village)
        #expect(rows.map(\.id) == [checkIn.id])
        #expect(try world.patrol.pending().items.isEmpty)
    }

    @Test("a report made offline: a suspected case with the three-ones clock from discovery, its photos kept in the vault first")
    func reportWithPhotos() async throws {
        let world = try PatrolWorld()
        let photos = [try world.photo("a.jpg", bytes: 300_000, seed: 1), try world.photo("b.jpg", bytes: 1_000, seed: 2)]
        let report = try await world.patrol.report(violation: .soilExtraction, note: "excavator on the east edge", photos: photos + [photos[0]])
        #expect(report.caseRecord.source == .patrol)
        #expect(report.caseRecord.status == .reported)
        #expect(report.caseRecord.village == world.village)
        #expect(report.caseRecord.parcelIDs.map(\.rawValue) == ["371312001201-0001"])
        #expect(report.deadlines.onSiteBy.milliseconds == PatrolWorld.start + 3_600_000)
        #expect(report.deadlines.restoreBy.milliseconds == PatrolWorld.start + 24 * 3_600_000)
        for (url, sha256) in zip(photos, report.photos) {
            #expect(sha256 == ContentDigest.sha256(try Data(contentsOf: url)))
            #expect(try Data(contentsOf: world.patrol.vault.url(of: sha256)) == Data(contentsOf: url))
        }
        #expect(Set(report.photos).count == 2, "the same photo twice is kept once")
        let timeline = try world.patrol.store.timeline(ofCase: report.caseRecord.id.rawValue)
        #expect(timeline.map(\.kind) == [.evidence])
        #expect(timeline[0].attachmentIDs == report.photos)
        #expect(try world.patrol.store.attachments(ofCase: report.caseRecord.id.rawValue).map(\.sizeBytes).sorted() == [1_004, 300_004])
        // Case, two attachments, one timeline entry: all waiting on the device.
        let pending = try world.patrol.pending()
        #expect(pending.notYetSent == 4)
        #expect(pending.photos == 2)
    }

    @Test("a photo that cannot be read is refused before anything is recorded")
    func missingPhoto() async throws {
        let world = try PatrolWorld()
        await #expect(throws: PatrolError.self) {
            try await world.patrol.report(violation: .wasteDumping, note: "x", photos: [world.folder.appendingPathComponent("missing.jpg")])
        }
        #expect(try world.patrol.pending().items.isEmpty)
        #expect(try world.patrol.store.openCases().filter { $0.source == .patrol }.isEmpty)
    }

    @Test("tasks pushed to the field chief count down on the injected clock; completing one records the decision and evidence")
    func tasks() async throws {
        let world = try PatrolWorld()
        var tasks = try world.patrol.tasks()
        #expect(tasks.map(\.task.id.rawValue) == [world.taskID])
        #expect(tasks[0].onSiteIn == 40 * 60_000)
        #expect(tasks[0].countdown == "on site 0:40 left")
        #expect(tasks[0].summary == "疑似取土")
        world.clock.advance(minutes: 55)
        tasks = try world.patrol.tasks()
        #expect(tasks[0].countdown == "restore 22:45 left")
        #expect(tasks[0].onSiteIn == -15 * 60_000)
        try await world.patrol.completeTask(world.taskID, decision: .confirmed, note: "soil taken, 2 mu", photos: [try world.photo("site.jpg", bytes: 5_000, seed: 9)])
        #expect(try world.patrol.tasks().isEmpty)
        let task = try #require(try world.patrol.store.task(world.taskID))
        #expect(task.status == .completed)
        #expect(task.decision == .confirmed)
        #expect(try world.patrol.store.timeline(ofCase: world.caseID).map(\.kind) == [.decision])
        await #expect(throws: (any Error).self) { try await world.patrol.completeTask(world.taskID, decision: .dismissed, note: "again") }
        // The hub takes the completion and the evidence.
        try world.push()
        #expect(try world.hub.task(world.taskID)?.status == .completed)
        #expect(try world.hub.timeline(ofCase: world.caseID).count == 1)
    }
}
