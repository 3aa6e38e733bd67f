import Foundation
import GRDB
import Testing
import TianzhangDomain
import TianzhangReference
import TianzhangSync
@testable import TianzhangSQLite

func temporaryPath(_ name: String = "replica.sqlite") throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tianzhang-sqlite-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent(name).path
}

/// Hand-built fixtures: a township with two villages, square parcels, cases at chosen ages.
struct Fixture {
    let township = try! DivisionCode("371312001")
    let v201 = try! DivisionCode("371312001201"), v202 = try! DivisionCode("371312001202")
    /// 2025-11-23 00:00 UTC, which is 08:00 China time.
    let base = Timestamp(milliseconds: Timestamp.days(year: 2025, month: 11, day: 23) * 86_400_000)
    let digestA = String(repeating: "0f", count: 32), digestB = String(repeating: "a1", count: 32), digestC = String(repeating: "b2", count: 32)

    /// A small square (about 100 m a side), built by hand: the geometry algorithms are not used here.
    func square(at n: Int) -> Polygon {
        let corners = [(0.0, 0.0), (0.001, 0.0), (0.001, 0.001), (0.0, 0.001), (0.0, 0.0)]
        return Polygon(exterior: corners.map { Coordinate(longitude: 118.3 + Double(n) * 0.002 + $0.0, latitude: 35 + $0.1) })
    }

    func parcel(_ n: Int, _ village: DivisionCode) -> Parcel {
        Parcel(
            id: try! RecordID("\(village.rawValue)-\(String(format: "%04d", n))"), village: village, landClass: n % 3 == 0 ? "0103" : "0101",
            areaMu: 4.5 + Double(n), isPermanentBasicFarmland: n % 2 == 0, fieldChief: "chief-\(village.rawValue)", note: n == 1 ? "东头" : nil,
            geometry: square(at: n))
    }

    func enforcementCase(_ id: String, status: CaseStatus, discoveredMinutesAgo minutes: Int64, village: DivisionCode? = nil) -> EnforcementCase {
        EnforcementCase(
            id: try! RecordID(id), source: .towerCamera, violation: .soilExtraction, location: Coordinate(longitude: 118.3, latitude: 35),
            township: township, village: village ?? v201, parcelIDs: [parcel(1, v201).id], affectedAreaMu: 1.25, assignees: ["li"],
            discoveredAt: base.adding(minutes: -minutes), status: status, summary: "取土")
    }

    func checkIn(_ id: String, at time: Timestamp, village: DivisionCode) -> CheckIn {
        CheckIn(id: try! RecordID(id), parcelID: try! RecordID("\(village.rawValue)-0001"), village: village, author: "chief", at: time,
                position: Coordinate(longitude: 118.3, latitude: 35), accuracyMetres: 4, observation: "正常", geofence: .withinTolerance(distanceMetres: 2.5))
    }

    func timelineEntry(_ id: String, case caseID: String, at time: Timestamp) -> TimelineEntry {
        TimelineEntry(id: try! RecordID(id), caseID: try! RecordID(caseID), kind: .note, text: "记录 \(id)", author: "li", at: time)
    }

    func task(_ id: String, case record: EnforcementCase, assignee: String, recipient: TaskRecipient = .fieldChief, status: VerificationTask.Status = .open) -> VerificationTask {
        VerificationTask(id: try! RecordID(id), caseID: record.id, recipient: recipient, assignee: assignee, township: township, village: record.village,
                         createdAt: record.discoveredAt, deadlines: record.deadlines, status: status,
                         decision: status == .completed ? .confirmed : nil, completedAt: status == .completed ? base : nil)
    }

    func attachment(_ digest: String, case caseID: String?) -> AttachmentMetadata {
        AttachmentMetadata(sha256: digest, sizeBytes: 2048, mediaType: "image/jpeg", caseID: caseID.map { try! RecordID($0) }, createdAt: base, author: "li")
    }

    /// One value of every record type, linked together.
    struct OneOfEach {
        var parcel: Parcel, record: EnforcementCase, entry: TimelineEntry, checkIn: CheckIn, task: VerificationTask
        var attachment: AttachmentMetadata, chief: FieldChief, division: Division
    }

    func oneOfEach() -> OneOfEach {
        let record = enforcementCase("C1", status: .confirmed, discoveredMinutesAgo: 120)
        var entry = timelineEntry("T1", case: "C1", at: base)
        entry.kind = .evidence
        entry.attachmentIDs = [digestA]
        return OneOfEach(
            parcel: parcel(1, v201), record: record, entry: entry, checkIn: checkIn("CI1", at: base, village: v201),
            task: task("K1", case: record, assignee: "chief", status: .completed), attachment: attachment(digestA, case: "C1"),
            chief: FieldChief(id: "chief", name: "王芳", division: v201, phone: "13800000000"),
            division: Division(code: v201, name: "王庄村", synthetic: true))
    }
}

@Suite("SQLite replica store")
struct SQLiteReplicaStoreTests {
    let f = Fixture()

    func save(_ all: Fixture.OneOfEach, into store: SQLiteReplicaStore) throws {
        try store.save(parcels: [all.parcel], cases: [all.record], timeline: [all.entry], checkIns: [all.checkIn], tasks: [all.task],
                       attachments: [all.attachment], chiefs: [all.chief], divisions: [all.division])
    }

    func expectAllReadBack(_ all: Fixture.OneOfEach, from store: SQLiteReplicaStore) throws {
        #expect(try store.parcel(all.parcel.id.rawValue) == all.parcel)
        #expect(try store.enforcementCase("C1") == all.record)
        #expect(try store.timelineEntry("T1") == all.entry)
        #expect(try store.checkIn("CI1") == all.checkIn)
        #expect(try store.task("K1") == all.task)
        #expect(try store.attachment(f.digestA) == all.attachment)
        #expect(try store.fieldChief("chief") == all.chief)
        #expect(try store.division(f.v201) == all.division)
        #expect(try store.divisions() == [all.division])
    }

    // MARK: round trips

    @Test("every record type round-trips through a file, also after closing and reopening it")
    func roundTripThroughFile() throws {
        // Given a store on disk with one of everything
        let path = try temporaryPath()
        let all = f.oneOfEach()
        do {
            let store = try SQLiteReplicaStore(path: path)
            try save(all, into: store)
            // Then every value reads back equal while it is open
            try expectAllReadBack(all, from: store)
        }
        // When it is opened again (the first store was released: its pool is closed)
        let reopened = try SQLiteReplicaStore(path: path)
        // Then every value still reads back equal, and unknown ids are absent
        try expectAllReadBack(all, from: reopened)
        #expect(try reopened.parcel("nope") == nil)
        #expect(try reopened.enforcementCase("nope") == nil)
        #expect(try reopened.division(f.v202) == nil)
    }

    @Test("every record type round-trips through the in-memory store")
    func roundTripInMemory() throws {
        // Given an in-memory store
        let store = try SQLiteReplicaStore.inMemory()
        // When one of everything is saved
        let all = f.oneOfEach()
        try save(all, into: store)
        // Then it reads back equal
        try expectAllReadBack(all, from: store)
    }

    @Test("saving again replaces the row: the store holds the latest value once")
    func upsertReplaces() throws {
        // Given a stored parcel
        let store = try SQLiteReplicaStore.inMemory()
        var parcel = f.parcel(1, f.v201)
        try store.save(parcels: [parcel])
        // When it is saved again with another field chief
        parcel.fieldChief = "chief-new"
        try store.save(parcels: [parcel])
        // Then one row, the new value, and the indexed column follows
        #expect(try store.summary().parcels == 1)
        #expect(try store.parcel(parcel.id.rawValue)?.fieldChief == "chief-new")
        let column = try store.writer.read { db in try String.fetchOne(db, sql: "SELECT field_chief FROM parcel") }
        #expect(column == "chief-new")
    }

    @Test("a file store runs in WAL with foreign keys on, synchronous NORMAL and a 5 s busy timeout")
    func connectionSettings() throws {
        // Given a file store
        let store = try SQLiteReplicaStore(path: try temporaryPath())
        // When its connection settings are read
        // (the writer connection; GRDB gives a pool's read-only connections a 10 s busy timeout of its own)
        let (journal, foreignKeys, synchronous, busy) = try store.writer.write { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA foreign_keys"),
             try Int.fetchOne(db, sql: "PRAGMA synchronous"), try Int.fetchOne(db, sql: "PRAGMA busy_timeout"))
        }
        let readerForeignKeys = try store.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA foreign_keys") }
        let readerSynchronous = try store.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        // Then they are the documented ones
        #expect(store.writer is DatabasePool)
        #expect(journal == "wal")
        #expect(foreignKeys == 1)
        #expect(synchronous == 1, "NORMAL")
        #expect(busy == 5_000)
        #expect(readerForeignKeys == 1 && readerSynchronous == 1)
    }

    // MARK: migrations

    @Test("v5 keys attachment rows by record id: an older row (keyed by its digest) keeps its digest as its id; two records may share a digest")
    func attachmentMigration() throws {
        let path = try temporaryPath()
        let digest = String(repeating: "c", count: 64)
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v4-deadline-indexes")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO attachment (sha256, case_id, size_bytes, media_type, body) VALUES (?, 'C1', 2048, 'image/jpeg', ?)",
                               arguments: [digest, try JSON.text(f.attachment(digest, case: "C1"))])
            }
        }
        let store = try SQLiteReplicaStore(path: path)
        #expect(try store.writer.read { try String.fetchOne($0, sql: "SELECT id FROM attachment") } == digest)
        #expect(try store.attachment(digest) == f.attachment(digest, case: "C1"))
        try store.writer.write { db in try SQLiteReplicaStore.upsert(f.attachment(digest, case: "C2"), id: AttachmentMetadata.recordID(sha256: digest, caseID: try RecordID("C2")), in: db) }
        #expect(try store.attachments(ofCase: "C1").count == 1 && store.attachments(ofCase: "C2").count == 1)
    }

    @Test("migrations run once and reopening is idempotent")
    func migrationsRunOnce() throws {
        // Given a new store
        let path = try temporaryPath()
        let expected = ["v1-records", "v2-sync", "v3-enrolment", "v4-deadline-indexes", "v5-attachment-per-record", "v6-signing-keys", "v7-bounded-merge-state"]
        #expect(SQLiteReplicaStore.migrations == expected)
        do {
            let store = try SQLiteReplicaStore(path: path)
            #expect(try store.appliedMigrations() == expected)
            #expect(try store.hasCompletedMigrations())
            try store.save(parcels: [f.parcel(1, f.v201)])
        }
        // When it is reopened twice
        _ = try SQLiteReplicaStore(path: path)
        let store = try SQLiteReplicaStore(path: path)
        // Then each migration is recorded once, and the data is untouched
        let recorded = try store.writer.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
        #expect(recorded == expected)
        #expect(try store.writer.read { try Schema.migrator.appliedIdentifiers($0) } == Set(expected))
        #expect(try store.hasCompletedMigrations())
        #expect(try store.parcels(inVillage: f.v201) == [f.parcel(1, f.v201)])
    }

    @Test("a database created at v1 opens with the current code, its data intact")
    func storeFromV1Upgrades() throws {
        // Given a database that an earlier version created (v1 only) holding a parcel and a case
        let path = try temporaryPath()
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v1-records")
            try queue.write { db in
                try SQLiteReplicaStore.upsert(f.parcel(2, f.v202), in: db)
                try SQLiteReplicaStore.upsert(f.enforcementCase("OLD", status: .reported, discoveredMinutesAgo: 90), in: db)
            }
            #expect(try queue.read { try Schema.migrator.appliedIdentifiers($0) } == ["v1-records"])
            #expect(try queue.read { try Schema.migrator.hasCompletedMigrations($0) } == false)
        }
        // When the current code opens it
        let upgraded = try SQLiteReplicaStore(path: path)
        // Then it is migrated to the end and the v1 rows are readable and queryable
        #expect(try upgraded.appliedMigrations() == SQLiteReplicaStore.migrations)
        #expect(try upgraded.hasCompletedMigrations())
        #expect(try upgraded.parcels(inVillage: f.v202) == [f.parcel(2, f.v202)])
        #expect(try upgraded.casesPastDeadline(at: f.base).map(\.id.rawValue) == ["OLD"])
        #expect(try upgraded.summary().changes == 0)
    }

    @Test("a store migrated by a newer version is refused, not silently used")
    func newerSchemaRefused() throws {
        // Given a store that a newer program migrated further
        let path = try temporaryPath()
        do {
            let store = try SQLiteReplicaStore(path: path)
            try store.writer.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-future')") }
        }
        // When this code opens it, then it says so
        let error = try #require(throws: StoreError.self) { try SQLiteReplicaStore(path: path) }
        #expect(error.code == .newerSchema)
        #expect(error.message.contains("v9-future") && error.message.contains("newer"))
    }

    // MARK: errors

    @Test("a file that is not a database is refused with a clear error")
    func garbageFile() throws {
        // Given a file of random-looking bytes
        let path = try temporaryPath()
        var rng = SplitMix64(seed: 7)
        try Data((0 ..< 8192).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }).write(to: URL(fileURLWithPath: path))
        // When it is opened as a store
        let error = try #require(throws: StoreError.self) { try SQLiteReplicaStore(path: path) }
        // Then the error names the file and says what is wrong
        #expect(error.code == .notADatabase)
        #expect(error.code == "not_a_database")
        #expect(error.message.contains(path))
        #expect(error.message.contains("not a Tianzhang store"))
        #expect((error.cause as? DatabaseError)?.resultCode == .SQLITE_NOTADB)
        #expect(error.description.hasPrefix("not_a_database: "))
    }

    @Test("a store in a missing folder is refused with cannot_open")
    func missingFolder() throws {
        let path = "/nonexistent-folder-\(UUID().uuidString)/replica.sqlite"
        let error = try #require(throws: StoreError.self) { try SQLiteReplicaStore(path: path) }
        #expect(error.code == .cannotOpen)
        #expect(error.message.contains("folder exists"))
    }

    @Test("a parcel outside a village is refused, and nothing of the batch is saved")
    func invalidParcelRollsBack() throws {
        // Given a batch whose second parcel is placed in a township, not a village
        let store = try SQLiteReplicaStore.inMemory()
        var bad = f.parcel(2, f.v201)
        bad.village = f.township
        // When it is saved
        let error = try #require(throws: StoreError.self) { try store.save(parcels: [f.parcel(1, f.v201), bad]) }
        // Then the error says why, and the transaction was rolled back
        #expect(error.code == .invalidRecord)
        #expect(error.message.contains("not a village"))
        #expect(try store.summary().parcels == 0)
    }

    @Test("a stored body that no longer decodes is reported as corrupt_record")
    func corruptBody() throws {
        // Given a parcel whose body was damaged behind the store's back
        let store = try SQLiteReplicaStore.inMemory()
        try store.save(parcels: [f.parcel(1, f.v201)])
        try store.writer.write { db in try db.execute(sql: "UPDATE parcel SET body = '{\"id\": 1}'") }
        // When it is read, then a StoreError names the problem
        let error = try #require(throws: StoreError.self) { try store.parcels(inVillage: f.v201) }
        #expect(error.code == .corruptRecord)
        #expect(error.cause is DecodingError)
    }

    // MARK: queries a township needs

    @Test("parcels of a village exclude the other village's parcels")
    func parcelsOfVillage() throws {
        // Given parcels in two villages
        let store = try SQLiteReplicaStore.inMemory()
        try store.save(parcels: [f.parcel(2, f.v201), f.parcel(3, f.v202), f.parcel(1, f.v201)])
        // When one village's parcels are asked for, then exactly those, by id
        #expect(try store.parcels(inVillage: f.v201) == [f.parcel(1, f.v201), f.parcel(2, f.v201)])
        #expect(try store.parcels(inVillage: f.v202) == [f.parcel(3, f.v202)])
        #expect(try store.parcels(inVillage: try DivisionCode("371312001299")).isEmpty)
    }

    @Test("open cases exclude closed ones, filter by status and township, oldest discovery first")
    func openCases() throws {
        // Given cases of several statuses and ages, one in another township
        let store = try SQLiteReplicaStore.inMemory()
        var elsewhere = f.enforcementCase("F", status: .reported, discoveredMinutesAgo: 500)
        elsewhere.township = try DivisionCode("371312002")
        elsewhere.village = nil
        try store.save(cases: [
            f.enforcementCase("A", status: .reported, discoveredMinutesAgo: 120), f.enforcementCase("B", status: .verifying, discoveredMinutesAgo: 1800),
            f.enforcementCase("C", status: .closed, discoveredMinutesAgo: 3000), f.enforcementCase("D", status: .reported, discoveredMinutesAgo: 0),
            f.enforcementCase("E", status: .dismissed, discoveredMinutesAgo: 2400, village: f.v202), elsewhere,
        ])
        // Then
        #expect(try store.openCases().map(\.id.rawValue) == ["E", "B", "F", "A", "D"])
        #expect(try store.openCases(status: .reported).map(\.id.rawValue) == ["F", "A", "D"])
        #expect(try store.openCases(status: .closed).isEmpty, "closed cases are never open")
        #expect(try store.openCases(township: f.township).map(\.id.rawValue) == ["E", "B", "A", "D"])
        #expect(try store.openCases(status: .reported, township: f.township).map(\.id.rawValue) == ["A", "D"])
    }

    @Test("cases past a deadline: overdue ones only, not closed, dismissed or not yet due")
    func casesPastDeadline() throws {
        // Given cases around each deadline
        let store = try SQLiteReplicaStore.inMemory()
        try store.save(cases: [
            f.enforcementCase("report-late", status: .reported, discoveredMinutesAgo: 61),       // report and on-site deadlines passed
            f.enforcementCase("report-due", status: .reported, discoveredMinutesAgo: 59),        // not yet
            f.enforcementCase("report-exact", status: .reported, discoveredMinutesAgo: 60),      // at the deadline: not passed
            f.enforcementCase("verifying-2h", status: .verifying, discoveredMinutesAgo: 120),     // on site; restore not yet due
            f.enforcementCase("stopped-25h", status: .stopped, discoveredMinutesAgo: 25 * 60),   // not restored within a day
            f.enforcementCase("rectified-48h", status: .rectified, discoveredMinutesAgo: 48 * 60),
            f.enforcementCase("dismissed-48h", status: .dismissed, discoveredMinutesAgo: 48 * 60),
            f.enforcementCase("closed-48h", status: .closed, discoveredMinutesAgo: 48 * 60),
        ])
        // When asked at the fixture's base time, then exactly the overdue ones, oldest first
        #expect(try store.casesPastDeadline(at: f.base).map(\.id.rawValue) == ["stopped-25h", "report-late"])
        // And an hour earlier, nothing had passed
        #expect(try store.casesPastDeadline(at: f.base.adding(minutes: -60)).map(\.id.rawValue) == [])
    }

    @Test("check-ins of a China day: 23:30 counts in that day, 00:30 the next day does not")
    func checkInsOfDay() throws {
        // Given check-ins late on 23 November (China time), just after midnight, and in another village
        let store = try SQLiteReplicaStore.inMemory()
        let day = Timestamp.days(year: 2025, month: 11, day: 23)
        let lateEvening = Timestamp(milliseconds: day * 86_400_000 + 15 * 3_600_000 + 30 * 60_000)   // 15:30 UTC = 23:30 China
        let pastMidnight = lateEvening.adding(hours: 1)                                               // 00:30 on the 24th
        let earlyMorning = Timestamp(milliseconds: day * 86_400_000 - 7 * 3_600_000 - 30 * 60_000)   // 00:30 China on the 23rd (16:30 UTC on the 22nd)
        try store.save(checkIns: [
            f.checkIn("K1", at: lateEvening, village: f.v201), f.checkIn("K2", at: pastMidnight, village: f.v201),
            f.checkIn("K3", at: lateEvening.adding(minutes: -5), village: f.v202), f.checkIn("K4", at: earlyMorning, village: f.v201),
        ])
        // Then the day holds the early-morning and late-evening ones, in time order
        #expect(try store.checkIns(onDay: day).map(\.id.rawValue) == ["K4", "K3", "K1"])
        #expect(try store.checkIns(onDay: day, village: f.v201).map(\.id.rawValue) == ["K4", "K1"])
        #expect(try store.checkIns(onDay: day + 1).map(\.id.rawValue) == ["K2"])
        #expect(try store.checkIns(onDay: day - 1).isEmpty)
        let storedDay = try store.writer.read { db in try Int64.fetchOne(db, sql: "SELECT day FROM check_in WHERE id = 'K4'") }
        #expect(storedDay == day)
    }

    @Test("a case's timeline is in time order and holds only that case's entries")
    func timelineOfCase() throws {
        // Given entries of two cases, saved out of order
        let store = try SQLiteReplicaStore.inMemory()
        try store.save(timeline: [
            f.timelineEntry("T3", case: "C1", at: f.base.adding(minutes: 30)), f.timelineEntry("T1", case: "C1", at: f.base),
            f.timelineEntry("T9", case: "C2", at: f.base.adding(minutes: 10)), f.timelineEntry("T2", case: "C1", at: f.base.adding(minutes: 5)),
        ])
        // Then
        #expect(try store.timeline(ofCase: "C1").map(\.id.rawValue) == ["T1", "T2", "T3"])
        #expect(try store.timeline(ofCase: "C2").map(\.id.rawValue) == ["T9"])
        #expect(try store.timeline(ofCase: "C3").isEmpty)
    }

    @Test("open tasks of an assignee exclude completed tasks and other assignees")
    func openTasksOfAssignee() throws {
        // Given the four pushes of one alert, one already completed
        let store = try SQLiteReplicaStore.inMemory()
        let record = f.enforcementCase("C1", status: .verifying, discoveredMinutesAgo: 30)
        try store.save(tasks: [
            f.task("K2", case: record, assignee: "chief"), f.task("K1", case: record, assignee: "chief", recipient: .townshipOffice),
            f.task("K3", case: record, assignee: "chief", recipient: .townshipGovernment, status: .completed),
            f.task("K4", case: record, assignee: "squad-1", recipient: .enforcementSquad),
        ])
        // Then
        #expect(try store.openTasks(for: "chief").map(\.id.rawValue) == ["K1", "K2"])
        #expect(try store.openTasks(for: "squad-1").map(\.id.rawValue) == ["K4"])
        #expect(try store.openTasks(for: "nobody").isEmpty)
    }

    @Test("attachments of a case exclude other cases' and unlinked attachments")
    func attachmentsOfCase() throws {
        let store = try SQLiteReplicaStore.inMemory()
        try store.save(attachments: [f.attachment(f.digestB, case: "C1"), f.attachment(f.digestA, case: "C1"), f.attachment(f.digestC, case: "C2"),
                                     f.attachment(String(repeating: "cd", count: 32), case: nil)])
        #expect(try store.attachments(ofCase: "C1").map(\.sha256) == [f.digestA, f.digestB])
        #expect(try store.attachments(ofCase: "C2").map(\.sha256) == [f.digestC])
        #expect(try store.attachments(ofCase: "C3").isEmpty)
    }

    @Test("summary counts every table")
    func summary() throws {
        // Given one of everything, plus a closed case and a second parcel
        let store = try SQLiteReplicaStore.inMemory()
        try save(f.oneOfEach(), into: store)
        try store.save(parcels: [f.parcel(2, f.v202)], cases: [f.enforcementCase("Z", status: .closed, discoveredMinutesAgo: 5000)])
        // Then
        let summary = try store.summary()
        #expect(summary == StoreSummary(divisions: 1, fieldChiefs: 1, parcels: 2, cases: 2, openCases: 1, timelineEntries: 1, checkIns: 1, tasks: 1,
                                        attachments: 1, changes: 0, pendingChanges: 0, rejectedChanges: 0))
        // And it is Codable for the CLI
        let json = try JSONEncoder().encode(summary)
        #expect(try JSONDecoder().decode(StoreSummary.self, from: json) == summary)
    }

    // MARK: the SQL agrees with the domain

    @Test("the SQL past-deadline query agrees with ThreeOnesDeadlines.overdue over generated cases")
    func pastDeadlineAgreesWithDomain() throws {
        // Given every status at ages on both sides of each deadline, plus seeded random cases
        let store = try SQLiteReplicaStore.inMemory()
        var cases: [EnforcementCase] = []
        for status in CaseStatus.allCases {
            for minutes: Int64 in [0, 10, 59, 60, 61, 120, 23 * 60, 24 * 60, 24 * 60 + 1, 100 * 60] {
                cases.append(f.enforcementCase("\(status.rawValue)-\(minutes)", status: status, discoveredMinutesAgo: minutes))
            }
        }
        var rng = SplitMix64(seed: 0x7A6E_6731)   // pinned
        for n in 0 ..< 400 {
            var record = f.enforcementCase("R\(n)", status: CaseStatus.allCases.randomElement(using: &rng)!, discoveredMinutesAgo: 0)
            record.discoveredAt = f.base.adding(minutes: -Int64.random(in: -120 ... 3 * 24 * 60, using: &rng))
            record.discoveredAt.milliseconds += Int64.random(in: -59_999 ... 59_999, using: &rng)
            cases.append(record)
        }
        try store.save(cases: cases)
        // When asked at several instants, then the SQL and the domain pick the same cases
        for now in [f.base, f.base.adding(minutes: 61), f.base.adding(hours: 30), f.base.adding(minutes: -90)] {
            let expected = cases.filter { !$0.deadlines.overdue(at: now, status: $0.status).isEmpty }
                .sorted { ($0.discoveredAt, $0.id.rawValue) < ($1.discoveredAt, $1.id.rawValue) }.map(\.id.rawValue)
            #expect(expected.count > 20 && expected.count < cases.count)
            #expect(try store.casesPastDeadline(at: now).map(\.id.rawValue) == expected, "at \(now)")
        }
    }

    @Test("the past-deadline query is answered from the deadline indexes, not a table scan")
    func pastDeadlineUsesIndexes() throws {
        let store = try SQLiteReplicaStore.inMemory()
        let (sql, arguments) = SQLiteReplicaStore.pastDeadlineQuery(at: f.base)
        let plan = try store.writer.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("enforcement_case_restore_by") }, "\(plan)")
        #expect(!plan.contains { $0.hasPrefix("SCAN enforcement_case") }, "\(plan)")
        #expect(SQLiteReplicaStore.deadlineStatuses[.report] == [.reported])
        #expect(SQLiteReplicaStore.deadlineStatuses[.restore] == [.reported, .verifying, .confirmed, .stopped, .rectifying])
    }

    // MARK: the materialization hook

    @Test("upsertRecord materializes typed columns from each type's JSON")
    func upsertRecordFillsColumns() throws {
        // Given the JSON of one value of each type
        let store = try SQLiteReplicaStore.inMemory()
        let all = f.oneOfEach()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let values: [(RecordType, any Encodable)] = [
            (.parcel, all.parcel), (.enforcementCase, all.record), (.timelineEntry, all.entry), (.checkIn, all.checkIn),
            (.verificationTask, all.task), (.attachment, all.attachment), (.fieldChief, all.chief), (.division, all.division),
        ]
        // When each is materialized through the hook, inside one caller-owned transaction
        func encoded(_ value: some Encodable) throws -> Data { try encoder.encode(value) }
        let jsons = try values.map { type, value in (type, try encoded(value)) }
        let written: [Bool] = try store.writer.write { db in
            var written: [Bool] = []
            for (type, json) in jsons { written.append(try SQLiteReplicaStore.upsertRecord(type: type, json: json, in: db)) }
            written.append(try SQLiteReplicaStore.upsertRecord(type: .receipt, json: Data("{}".utf8), in: db))
            return written
        }
        #expect(written == Array(repeating: true, count: values.count) + [false], "receipts have no table")
        // Then the typed columns hold the values' fields
        try store.writer.read { db in
            let parcel = try #require(try Row.fetchOne(db, sql: "SELECT * FROM parcel"))
            #expect(parcel["id"] as String == all.parcel.id.rawValue && parcel["village"] as String == "371312001201")
            #expect(parcel["township"] as String == "371312001" && parcel["land_class"] as String == "0101")
            #expect(parcel["area_mu"] as Double == 5.5 && parcel["is_permanent_basic_farmland"] as Bool == false)
            #expect(parcel["field_chief"] as String? == "chief-371312001201")
            let record = try #require(try Row.fetchOne(db, sql: "SELECT * FROM enforcement_case"))
            #expect(record["status"] as String == "confirmed" && record["round"] as Int == 1 && record["village"] as String? == "371312001201")
            #expect(record["discovered_at"] as Int64 == all.record.discoveredAt.milliseconds)
            #expect(record["report_by"] as Int64 == all.record.discoveredAt.adding(hours: 1).milliseconds)
            #expect(record["on_site_by"] as Int64 == all.record.discoveredAt.adding(hours: 1).milliseconds)
            #expect(record["restore_by"] as Int64 == all.record.discoveredAt.adding(hours: 24).milliseconds)
            let entry = try #require(try Row.fetchOne(db, sql: "SELECT case_id, at FROM timeline_entry"))
            #expect(entry["case_id"] as String == "C1" && entry["at"] as Int64 == f.base.milliseconds)
            let checkIn = try #require(try Row.fetchOne(db, sql: "SELECT * FROM check_in"))
            #expect(checkIn["parcel_id"] as String == "371312001201-0001" && checkIn["author"] as String == "chief")
            #expect(checkIn["day"] as Int64 == Timestamp.days(year: 2025, month: 11, day: 23))
            let task = try #require(try Row.fetchOne(db, sql: "SELECT * FROM verification_task"))
            #expect(task["assignee"] as String == "chief" && task["recipient"] as String == "fieldChief" && task["status"] as String == "completed")
            let attachment = try #require(try Row.fetchOne(db, sql: "SELECT * FROM attachment"))
            #expect(attachment["sha256"] as String == f.digestA && attachment["case_id"] as String? == "C1" && attachment["size_bytes"] as Int64 == 2048)
            #expect(attachment["media_type"] as String == "image/jpeg")
            #expect(try String.fetchOne(db, sql: "SELECT division FROM field_chief") == "371312001201")
            let division = try #require(try Row.fetchOne(db, sql: "SELECT * FROM division"))
            #expect(division["level"] as String == "village" && division["synthetic"] as Bool == true)
        }
        // And the bodies read back as the same values
        try expectAllReadBack(all, from: store)
    }

    @Test("upsertRecord refuses JSON that is not a whole value, naming the missing field; deleteRecord removes rows")
    func upsertRecordRefusesAndDeletes() throws {
        // Given a stored case and a parcel JSON without its village
        let store = try SQLiteReplicaStore.inMemory()
        let all = f.oneOfEach()
        try save(all, into: store)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(all.parcel)) as? [String: Any])
        object["village"] = nil
        let json = try JSONSerialization.data(withJSONObject: object)
        // When it is materialized, then a clear error names the type and field
        let error = try #require(throws: StoreError.self) { try store.saveRecord(type: .parcel, json: json) }
        #expect(error.code == .invalidRecord)
        #expect(error.message.contains("parcel") && error.message.contains("village"), "\(error.message)")
        // When rows are deleted through the hook, then exactly those go
        #expect(try store.removeRecord(type: .enforcementCase, id: "C1"))
        #expect(try store.removeRecord(type: .attachment, id: f.digestA))
        #expect(try store.removeRecord(type: .division, id: f.v201.rawValue))
        #expect(try store.removeRecord(type: .enforcementCase, id: "C1") == false)
        #expect(try store.removeRecord(type: .receipt, id: "x") == false)
        #expect(try store.enforcementCase("C1") == nil && store.attachment(f.digestA) == nil && store.division(f.v201) == nil)
        #expect(try store.parcel(all.parcel.id.rawValue) == all.parcel)
    }

    @Test("records recorded through the sync engine are materialized into the typed tables")
    func engineMaterializes() throws {
        // Given a hub store and the engine
        let store = try SQLiteReplicaStore.inMemory()
        let engine = SyncEngine(configuration: .init(landClasses: try ReferenceData.landClasses()))
        let hub = try ReplicaID("hub:371312")
        // When a parcel and a case are recorded and the case moves on
        try store.write { tx in
            try engine.open(replica: hub, jurisdiction: .county(try DivisionCode("371312")), in: tx)
            let p = f.parcel(1, f.v201)
            try engine.record(Draft(type: .parcel, id: p.id.rawValue, scope: f.v201, author: "dispatcher", fields: try fields(of: p)), physicalNow: f.base.milliseconds, in: tx)
            var c = f.enforcementCase("C9", status: .reported, discoveredMinutesAgo: 60)
            c.assignees = []
            var caseFields = try fields(of: c)
            caseFields["status"] = .set(WorkflowValue(status: .reported, round: 1).json)
            caseFields.removeValue(forKey: "round")
            try engine.record(Draft(type: .enforcementCase, id: "C9", scope: f.v201, author: "dispatcher", fields: caseFields), physicalNow: f.base.milliseconds, in: tx)
            try engine.record(Draft(type: .enforcementCase, id: "C9", scope: f.v201, author: "dispatcher", fields: ["status": .set(WorkflowValue(status: .verifying, round: 1).json), "assignees": .add(["wang"])]), physicalNow: f.base.milliseconds, in: tx)
        }
        // Then the typed tables hold the merged values
        #expect(try store.parcels(inVillage: f.v201) == [f.parcel(1, f.v201)])
        let materialized = try #require(try store.enforcementCase("C9"))
        #expect(materialized.status == .verifying && materialized.assignees == ["wang"])
        #expect(try store.openCases(status: .verifying).map(\.id.rawValue) == ["C9"])
        #expect(try store.summary().changes == 3)
        #expect(try store.summary().pendingChanges == 0, "the hub's own changes are at the county")
    }

    @Test("a merge state materializes its row, and a state that is no longer a whole value removes it", arguments: [RecordType.timelineEntry, .division])
    func materializerFollowsState(type: RecordType) throws {
        // Given a whole timeline entry or division folded from one change
        let store = try SQLiteReplicaStore.inMemory()
        let all = f.oneOfEach()
        let (id, value): (String, JSONValue) = type == .division
            ? (all.division.code.rawValue, JSONValue(encoding: all.division)) : ("T1", JSONValue(encoding: all.entry))
        var whole: [String: FieldOperation] = [:]
        for (field, fieldValue) in value.objectValue ?? [:] where field != "id" { whole[field] = .set(fieldValue) }
        let key = RecordKey(type, id)
        let change = Change(id: ChangeID(origin: try ReplicaID("hub:371312"), seq: 1), recordType: type, recordID: id, scope: f.v201,
                            hlc: HLC(wall: f.base.milliseconds), author: "dispatcher", fields: whole)
        try store.writer.write { db in try Materializer.write(RecordState(first: change, key: key), in: db) }
        #expect(try store.summary().timelineEntries + store.summary().divisions == 1)
        // When the state is rebuilt without its first field (a creation refused upstream, refolded)
        var partial = change
        partial.fields.removeValue(forKey: whole.keys.sorted().first!)
        try store.writer.write { db in try Materializer.write(RecordState(first: partial, key: key), in: db) }
        // Then the row is gone rather than stale
        #expect(try store.summary().timelineEntries + store.summary().divisions == 0)
    }

    func fields<T: Encodable>(of value: T) throws -> [String: FieldOperation] {
        var result: [String: FieldOperation] = [:]
        for (key, value) in JSONValue(encoding: value).objectValue ?? [:] where key != "id" {
            result[key] = key == "assignees" || key == "parcelIDs" ? .add(value.arrayValue ?? []) : .set(value)
        }
        return result
    }
}
