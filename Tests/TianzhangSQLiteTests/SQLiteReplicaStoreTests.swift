import Foundation
import GRDB
import Testing
import TianzhangDomain
import TianzhangReference
import TianzhangSeed
import TianzhangSync
@testable import TianzhangSQLite

func temporaryPath(_ name: String = "replica.sqlite") throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-sqlite-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent(name).path
}

@Suite("SQLite replica store")
struct SQLiteReplicaStoreTests {
    let v201 = try! DivisionCode("371312001201"), v202 = try! DivisionCode("371312001202"), township = try! DivisionCode("371312001")
    let base = Timestamp(milliseconds: Timestamp.days(year: 2025, month: 11, day: 23) * 86_400_000)  // 08:00 China time

    func parcel(_ n: Int, _ village: DivisionCode) -> Parcel {
        Parcel(
            id: try! RecordID("\(village.rawValue)-\(String(format: "%04d", n))"), village: village, landClass: "0101", areaMu: 4.5 + Double(n),
            isPermanentBasicFarmland: n % 2 == 0, fieldChief: "chief-\(village.rawValue)", note: n == 1 ? "东头" : nil,
            geometry: Polygon(exterior: [(0.0, 0.0), (0.001, 0.0), (0.001, 0.001), (0.0, 0.001), (0.0, 0.0)].map { Coordinate(longitude: 118.3 + Double(n) * 0.002 + $0.0, latitude: 35 + $0.1) }))
    }

    func enforcementCase(_ id: String, status: CaseStatus, discoveredHoursAgo hours: Int64, village: DivisionCode? = nil) -> EnforcementCase {
        EnforcementCase(
            id: try! RecordID(id), source: .towerCamera, violation: .soilExtraction, location: Coordinate(longitude: 118.3, latitude: 35),
            township: township, village: village ?? v201, parcelIDs: [], affectedAreaMu: 1, assignees: ["li"],
            discoveredAt: base.adding(minutes: -hours * 60), status: status, summary: "取土")
    }

    func checkIn(_ id: String, at time: Timestamp, village: DivisionCode) -> CheckIn {
        CheckIn(id: try! RecordID(id), parcelID: try! RecordID("\(village.rawValue)-0001"), village: village, author: "chief", at: time,
                position: Coordinate(longitude: 118.3, latitude: 35), accuracyMetres: 4, observation: "正常", geofence: .withinTolerance(distanceMetres: 2.5))
    }

    @Test("every record type round-trips through a file, also after closing and reopening it")
    func roundTrip() throws {
        // Given a store on disk with one of everything
        let path = try temporaryPath()
        let digest = String(repeating: "0f", count: 32)
        let record = enforcementCase("C1", status: .confirmed, discoveredHoursAgo: 2)
        let entry = TimelineEntry(id: try RecordID("T1"), caseID: record.id, kind: .evidence, text: "照片", attachmentIDs: [digest], author: "li", at: base)
        let task = VerificationTask(id: try RecordID("K1"), caseID: record.id, recipient: .fieldChief, assignee: "chief", township: township, village: v201, createdAt: base, deadlines: record.deadlines)
        let attachment = AttachmentMetadata(sha256: digest, sizeBytes: 2048, mediaType: "image/jpeg", caseID: record.id, createdAt: base, author: "li")
        let chief = FieldChief(id: "chief", name: "王芳", division: v201, phone: "13800000000")
        let division = Division(code: v201, name: "王庄村", synthetic: true)
        let check = checkIn("CI1", at: base, village: v201)
        do {
            let store = try SQLiteReplicaStore(path: path)
            try store.save(parcels: [parcel(1, v201)], cases: [record], timeline: [entry], checkIns: [check], tasks: [task], attachments: [attachment], chiefs: [chief], divisions: [division])
        }
        // When it is opened again
        let reopened = try SQLiteReplicaStore(path: path)
        // Then every value reads back equal
        #expect(try reopened.parcel("371312001201-0001") == parcel(1, v201))
        #expect(try reopened.enforcementCase("C1") == record)
        #expect(try reopened.timelineEntry("T1") == entry)
        #expect(try reopened.checkIn("CI1") == check)
        #expect(try reopened.task("K1") == task)
        #expect(try reopened.attachment(digest) == attachment)
        #expect(try reopened.fieldChief("chief") == chief)
        #expect(try reopened.divisions() == [division])
        #expect(try reopened.parcel("nope") == nil)
    }

    @Test("migrations run once, and a store made at v1 is upgraded in place")
    func migrations() throws {
        let path = try temporaryPath()
        #expect(try SQLiteReplicaStore(path: path).appliedMigrations() == ["v1-records", "v2-sync", "v3-enrolment"])
        #expect(try SQLiteReplicaStore(path: path).appliedMigrations() == ["v1-records", "v2-sync", "v3-enrolment"])
        // Given a database that an earlier version created (v1 only) holding a parcel
        let oldPath = try temporaryPath()
        do {
            let queue = try DatabaseQueue(path: oldPath)
            try Schema.migrator.migrate(queue, upTo: "v1-records")
            try queue.write { db in try Materializer.upsert(parcel(2, v202), in: db) }
            #expect(try queue.read { try Schema.migrator.appliedIdentifiers($0) } == ["v1-records"])
        }
        // When the current code opens it, then it is migrated and the data is intact
        let upgraded = try SQLiteReplicaStore(path: oldPath)
        #expect(try upgraded.appliedMigrations() == ["v1-records", "v2-sync", "v3-enrolment"])
        #expect(try upgraded.parcels(inVillage: v202) == [parcel(2, v202)])
    }

    @Test("a file that is not a database is refused with a clear error")
    func garbageFile() throws {
        let path = try temporaryPath()
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        do {
            _ = try SQLiteReplicaStore(path: path)
            Issue.record("opened a garbage file")
        } catch let error as StoreError {
            #expect(error.code == "not_a_database")
            #expect(error.message.contains("not a Tianzhang store"))
        }
        #expect(throws: StoreError.self) { _ = try SQLiteReplicaStore(path: "/nonexistent-folder/x/replica.sqlite") }
    }

    @Test("queries return exactly the rows they should")
    func queries() throws {
        let store = try SQLiteReplicaStore.inMemory()
        let day = Timestamp.days(year: 2025, month: 11, day: 23)
        let lateEvening = Timestamp(milliseconds: day * 86_400_000 + 15 * 3_600_000 + 30 * 60_000)   // 23:30 China time
        let pastMidnight = lateEvening.adding(hours: 1)                                               // 00:30 next day
        try store.save(
            parcels: [parcel(1, v201), parcel(2, v201), parcel(3, v202)],
            cases: [
                enforcementCase("A", status: .reported, discoveredHoursAgo: 2), enforcementCase("B", status: .verifying, discoveredHoursAgo: 30),
                enforcementCase("C", status: .closed, discoveredHoursAgo: 50), enforcementCase("D", status: .reported, discoveredHoursAgo: 0),
                enforcementCase("E", status: .dismissed, discoveredHoursAgo: 40, village: v202),
            ],
            checkIns: [checkIn("K1", at: lateEvening, village: v201), checkIn("K2", at: pastMidnight, village: v201), checkIn("K3", at: lateEvening, village: v202)])
        #expect(try store.parcels(inVillage: v201).map(\.id.rawValue) == ["371312001201-0001", "371312001201-0002"])
        #expect(try store.openCases().map(\.id.rawValue) == ["E", "B", "A", "D"], "oldest discovery first")
        #expect(try store.openCases(status: .reported).map(\.id.rawValue) == ["A", "D"])
        #expect(try store.casesPastDeadline(at: base).map(\.id.rawValue) == ["B", "A"])
        #expect(try store.checkIns(onDay: day).map(\.id.rawValue) == ["K1", "K3"])
        #expect(try store.checkIns(onDay: day, village: v201).map(\.id.rawValue) == ["K1"])
        #expect(try store.checkIns(onDay: day + 1).map(\.id.rawValue) == ["K2"])
        let summary = try store.summary()
        #expect(summary.parcels == 3 && summary.cases == 5 && summary.openCases == 4 && summary.checkIns == 3)
    }

    @Test("the SQL past-deadline query agrees with ThreeOnesDeadlines.overdue on every status and age")
    func pastDeadlineAgreesWithDomain() throws {
        let store = try SQLiteReplicaStore.inMemory()
        var cases: [EnforcementCase] = []
        for status in CaseStatus.allCases {
            for minutes in [10, 59, 61, 120, 23 * 60, 24 * 60 + 1, 100 * 60] {
                cases.append(enforcementCase("\(status.rawValue)-\(minutes)", status: status, discoveredHoursAgo: 0).with { $0.discoveredAt = base.adding(minutes: -Int64(minutes)) })
            }
        }
        try store.save(cases: cases)
        let expected = Set(cases.filter { !$0.deadlines.overdue(at: base, status: $0.status).isEmpty }.map(\.id.rawValue))
        #expect(expected.count > 10)
        #expect(Set(try store.casesPastDeadline(at: base).map(\.id.rawValue)) == expected)
    }

    @Test("records recorded through the sync engine are materialized into the typed tables")
    func engineMaterializes() throws {
        let store = try SQLiteReplicaStore.inMemory()
        let engine = SyncEngine(configuration: .init(landClasses: try ReferenceData.landClasses()))
        let hub = try ReplicaID("hub:371312")
        try store.write { tx in
            try engine.open(replica: hub, jurisdiction: .county(try DivisionCode("371312")), in: tx)
            let p = parcel(1, v201)
            try engine.record(Draft(type: .parcel, id: p.id.rawValue, scope: v201, author: "dispatcher", fields: try fields(of: p)), physicalNow: base.milliseconds, in: tx)
            var c = enforcementCase("C9", status: .reported, discoveredHoursAgo: 1)
            c.assignees = []
            var caseFields = try fields(of: c)
            caseFields["status"] = .set(WorkflowValue(status: .reported, round: 1).json)
            caseFields.removeValue(forKey: "round")
            try engine.record(Draft(type: .enforcementCase, id: "C9", scope: v201, author: "dispatcher", fields: caseFields), physicalNow: base.milliseconds, in: tx)
            try engine.record(Draft(type: .enforcementCase, id: "C9", scope: v201, author: "dispatcher", fields: ["status": .set(WorkflowValue(status: .verifying, round: 1).json), "assignees": .add(["wang"])]), physicalNow: base.milliseconds, in: tx)
        }
        #expect(try store.parcels(inVillage: v201) == [parcel(1, v201)])
        let materialized = try #require(try store.enforcementCase("C9"))
        #expect(materialized.status == .verifying && materialized.assignees == ["wang"])
        #expect(try store.summary().changes == 3)
        #expect(try store.summary().pendingChanges == 0, "the hub's own changes are at the county")
    }

    func fields<T: Encodable>(of value: T) throws -> [String: FieldOperation] {
        var result: [String: FieldOperation] = [:]
        for (key, value) in JSONValue(encoding: value).objectValue ?? [:] where key != "id" {
            result[key] = key == "assignees" || key == "parcelIDs" ? .add(value.arrayValue ?? []) : .set(value)
        }
        return result
    }
}

extension EnforcementCase {
    func with(_ change: (inout EnforcementCase) -> Void) -> EnforcementCase {
        var copy = self
        change(&copy)
        return copy
    }
}
