import Foundation
import TianzhangDomain
import TianzhangSQLite
import TianzhangStore
import TianzhangSync

/// A failure of the patrol client core, with a stable code the embedding app can act on.
public struct PatrolError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        case notEnrolled = "not_enrolled"
        case notFound = "not_found"
        case outsideVillages = "outside_jurisdiction"
        case noLocation = "no_location"
        case invalidValue = "invalid_value"
        case photo = "photo_not_safe"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A parcel near a position, nearest first.
public struct NearbyParcel: Hashable, Sendable {
    public var parcel: Parcel
    /// 0 when the position is inside the parcel, else the distance to its boundary.
    public var distanceMetres: Double
}

/// A verification task addressed to this field chief, with its "three ones" countdowns.
public struct TaskView: Hashable, Sendable, Codable {
    public var task: VerificationTask
    public var summary: String?
    /// Milliseconds left until each deadline (negative: overdue).
    public var reportIn: Int64
    public var onSiteIn: Int64
    public var restoreIn: Int64

    /// The nearest deadline not yet passed, or the most overdue one, as "0:42 left" / "1:05 overdue".
    public var countdown: String {
        let next = [("on site", onSiteIn), ("restore", restoreIn)].first { $0.1 >= 0 } ?? ("on site", onSiteIn)
        return "\(next.0) \(Self.clock(abs(next.1)))\(next.1 >= 0 ? " left" : " overdue")"
    }

    static func clock(_ milliseconds: Int64) -> String {
        let minutes = milliseconds / 60_000
        return String(format: "%d:%02d", minutes / 60, minutes % 60)
    }
}

/// What is recorded on the device and not yet confirmed by the county.
public struct PendingWork: Hashable, Sendable, Codable {
    public struct Item: Hashable, Sendable, Codable {
        public var change: String
        public var record: String
        public var type: String
        /// `pending` (still on the device), `forwarded` (the node has it), `rejected`.
        public var state: String
        public var ageMilliseconds: Int64
        public var reason: String?
    }

    public var items: [Item]
    /// Photos whose bytes the device holds and whose records wait to sync.
    public var photos: Int
    public var oldestAgeMilliseconds: Int64? { items.map(\.ageMilliseconds).max() }
    public var notYetSent: Int { items.filter { $0.state == "pending" }.count }
    public var notYetAtCounty: Int { items.filter { $0.state != "rejected" }.count }
}

/// The patrol client core: what a field chief's app embeds. Its own SQLite store and photo vault, no
/// global state, the clock and the position injected. Every operation records locally first and works
/// with no signal; `sync` (in `PatrolSync`) sends it up when a link is there.
///
/// ```swift
/// let patrol = try PatrolClient(storePath: "patrol.sqlite", clock: { now() }, location: gps)
/// let checkIn = try await patrol.checkIn(parcel: "371312001201-0007", observation: "crops normal")
/// let report = try await patrol.report(violation: .soilExtraction, note: "excavator on the east edge", photos: [photo])
/// ```
public final class PatrolClient: Sendable {
    public let store: SQLiteReplicaStore
    public let vault: AttachmentVault
    public let engine: SyncEngine
    public let clock: @Sendable () -> Int64
    public let location: any LocationSource
    /// A check-in within this distance of a parcel's boundary counts as at the parcel (GPS error, field edges).
    public let geofenceToleranceMetres: Double

    /// Opens (creating if needed) the device's store and photo vault.
    public init(storePath: String, clock: @escaping @Sendable () -> Int64, location: any LocationSource,
                landClasses: LandClassCatalog? = nil, geofenceToleranceMetres: Double = 30) throws {
        store = try SQLiteReplicaStore(path: storePath)
        vault = try AttachmentVault(besideStore: storePath)
        engine = SyncEngine(configuration: .init(landClasses: landClasses))
        self.clock = clock
        self.location = location
        self.geofenceToleranceMetres = geofenceToleranceMetres
    }

    // MARK: identity

    /// This device's replica and villages, once enrolled.
    public func meta() throws -> ReplicaMeta {
        guard let meta = try store.read({ try $0.meta() }) else {
            throw PatrolError(.notEnrolled, "This device is not enrolled yet: enrol it with the credential the county issued.")
        }
        return meta
    }

    /// The person (field chief) this device belongs to.
    public func person() throws -> String {
        try store.setting("patrol.person") ?? String(meta().replica.rawValue.drop { $0 != ":" }.dropFirst())
    }

    /// Binds the store to a replica and its villages (after `hello` answered them).
    /// - Parameter credential: the credential the county issued; the device signs its changes with the key derived from it.
    public func adopt(replica: ReplicaID, jurisdiction: Jurisdiction, person: String, credential: String? = nil) throws {
        guard replica.kind == .patrol else { throw PatrolError(.invalidValue, "\(replica) is not a patrol device id (patrol:NAME).") }
        try store.write { tx in _ = try engine.open(replica: replica, jurisdiction: jurisdiction, credential: credential, in: tx) }
        try store.setSetting("patrol.person", person)
    }

    // MARK: one village, one map

    /// Parcels of this device's villages within `metres` of a position, nearest first.
    public func parcels(near point: Coordinate, within metres: Double = 500, limit: Int = 20) throws -> [NearbyParcel] {
        let villages = try villages()
        var result: [NearbyParcel] = []
        for village in villages {
            for parcel in try store.parcels(inVillage: village) {
                let distance = parcel.geometry.contains(point) ? 0 : parcel.geometry.distanceMetres(to: point)
                if distance <= metres { result.append(NearbyParcel(parcel: parcel, distanceMetres: distance)) }
            }
        }
        return Array(result.sorted { ($0.distanceMetres, $0.parcel.id) < ($1.distanceMetres, $1.parcel.id) }.prefix(limit))
    }

    /// The villages this device works in (its credential's).
    public func villages() throws -> [DivisionCode] {
        let jurisdiction = try meta().jurisdiction
        if case .villages(let codes) = jurisdiction { return codes.sorted() }
        return try store.divisions().map(\.code).filter { $0.level == .village && jurisdiction.covers($0) }.sorted()
    }

    // MARK: check-in

    /// Checks in at a parcel (巡田打卡): the position (from `fix`, else the location source), the time,
    /// what was seen, and where the position lay relative to the parcel — inside, within the tolerance,
    /// or how far outside. Recorded locally; syncs later.
    /// - Throws: `PatrolError` (`not_found` for an unknown parcel, `no_location`), or the engine's
    ///   `Rejection` for an invalid value.
    @discardableResult
    public func checkIn(parcel parcelID: String, observation: String, fix: LocationFix? = nil) async throws -> CheckIn {
        guard let parcel = try store.parcel(parcelID) else {
            throw PatrolError(.notFound, "No parcel \(parcelID) in this device's villages; sync to download them.")
        }
        let position = try await resolve(fix)
        let now = clock()
        let checkIn = CheckIn(
            id: newID(now), parcelID: parcel.id, village: parcel.village, author: try person(), at: Timestamp(milliseconds: now),
            position: position.position, accuracyMetres: position.accuracyMetres, observation: observation,
            geofence: parcel.geometry.geofence(position.position, toleranceMetres: max(geofenceToleranceMetres, position.accuracyMetres)))
        try checkIn.validate()
        try record(checkIn, type: .checkIn, id: checkIn.id.rawValue, scope: parcel.village, now: now)
        return checkIn
    }

    // MARK: report (动土必报告)

    /// What a report recorded.
    public struct Report: Hashable, Sendable {
        public var caseRecord: EnforcementCase
        public var photos: [String]
        public var deadlines: ThreeOnesDeadlines
    }

    /// Reports earth-moving: a suspected case (source: patrol, status: reported) at the position, with a
    /// note and photos; the "three ones" clock starts now, at discovery. Each photo is first copied into
    /// the device's vault and flushed to disk; only then is it recorded and attached — a photo is never
    /// attached before its bytes are safe.
    /// - Parameter parcel: the parcel it is on, when known (its village becomes the case's).
    /// - Throws: `PatrolError` (`outside_jurisdiction` when the position is in none of the device's
    ///   villages and no parcel was given, `photo_not_safe`, `no_location`).
    @discardableResult
    public func report(violation: ViolationType, note: String, photos: [URL] = [], parcel parcelID: String? = nil,
                       areaMu: Double = 0, fix: LocationFix? = nil) async throws -> Report {
        let position = try await resolve(fix)
        var parcel = try parcels(near: position.position, within: 200, limit: 1).first?.parcel
        if let parcelID {
            guard let named = try store.parcel(parcelID) else { throw PatrolError(.notFound, "No parcel \(parcelID) in this device's villages.") }
            parcel = named
        }
        guard let village = try parcel?.village ?? villages().first else {
            throw PatrolError(.outsideVillages, "This device has no village to report in.")
        }
        let kept = try keep(photos)
        // The three-ones clock starts at the county's time of discovery, whatever this device's clock says.
        let device = clock()
        let now = try meta().countyTime(device)
        let author = try person()
        let caseRecord = EnforcementCase(
            id: newID(now), source: .patrol, violation: violation, location: position.position, township: village.township!, village: village,
            parcelIDs: parcel.map { [$0.id] } ?? [], affectedAreaMu: areaMu, discoveredAt: Timestamp(milliseconds: now), summary: note)
        try caseRecord.validate()
        try store.write { tx in
            try engine.record(Draft(creating: caseRecord, type: .enforcementCase, id: caseRecord.id.rawValue, scope: village, author: author), physicalNow: device, in: tx)
            try recordEvidence(caseRecord.id, photos: kept, text: note, kind: .evidence, scope: village, author: author, now: now, physical: device, tx)
        }
        return Report(caseRecord: caseRecord, photos: kept.map(\.sha256), deadlines: caseRecord.deadlines)
    }

    // MARK: tasks (四个推送)

    /// Open tasks addressed to this field chief as its field-chief push, nearest deadline first, each with
    /// its countdowns at the injected clock.
    public func tasks() throws -> [TaskView] {
        let now = try meta().countyTime(clock())
        return try store.openTasks(for: try person()).filter { $0.recipient == .fieldChief }.map { task in
            TaskView(task: task, summary: try store.enforcementCase(task.caseID.rawValue)?.summary,
                     reportIn: task.deadlines.reportBy.milliseconds - now, onSiteIn: task.deadlines.onSiteBy.milliseconds - now,
                     restoreIn: task.deadlines.restoreBy.milliseconds - now)
        }.sorted { ($0.onSiteIn, $0.task.id) < ($1.onSiteIn, $1.task.id) }
    }

    /// Completes a verification task with a decision (confirmed illegal, or dismissed), a note and
    /// photos as evidence on the case's timeline.
    /// - Throws: `PatrolError` (`not_found`), `ValidationError` (already completed; not a decision).
    public func completeTask(_ id: String, decision: CaseStatus, note: String, photos: [URL] = []) async throws {
        guard var task = try store.task(id) else { throw PatrolError(.notFound, "No task \(id) on this device; sync to receive tasks.") }
        let now = clock()
        try task.complete(decision: decision, at: Timestamp(milliseconds: now))
        let kept = try keep(photos)
        let scope = task.village ?? task.township
        let author = try person()
        try store.write { tx in
            try engine.record(Draft(type: .verificationTask, id: id, scope: scope, author: author, fields: [
                "status": .set(.string(task.status.rawValue)), "decision": .set(.string(decision.rawValue)),
                "completedAt": .set(.number(Double(now))),
            ]), physicalNow: now, in: tx)
            try recordEvidence(task.caseID, photos: kept, text: "\(decision.rawValue): \(note)", kind: .decision, scope: scope, author: author, now: now, tx)
        }
    }

    // MARK: pending work

    /// What is recorded here and not yet confirmed by the county, with how old it is.
    public func pending() throws -> PendingWork {
        let now = clock()
        let entries = try store.read { tx in
            try tx.entries(delivery: .pending) + tx.entries(delivery: .forwarded) + tx.entries(delivery: .rejected).filter { $0.amendedBy == nil }
        }
        let mine = try meta().replica
        let items = entries.filter { $0.change.origin == mine }.sorted { $0.seq < $1.seq }.map { entry in
            PendingWork.Item(
                change: entry.change.id.description, record: entry.change.recordID, type: entry.change.recordType?.rawValue ?? "?",
                state: entry.delivery.rawValue, ageMilliseconds: now - entry.change.hlc.wall, reason: entry.rejection?.description)
        }
        return PendingWork(items: items, photos: items.filter { $0.type == RecordType.attachment.rawValue && $0.state == "pending" }.count)
    }

    // MARK: helpers

    /// Copies photos into the vault (flushed to disk) before anything refers to them.
    func keep(_ photos: [URL]) throws(PatrolError) -> [(sha256: String, size: Int64)] {
        var kept: [(sha256: String, size: Int64)] = []
        for url in photos {
            do { kept.append(try vault.put(contentsOf: url)) } catch {
                throw PatrolError(.photo, "Photo \(url.lastPathComponent) could not be kept: \(error.message)")
            }
        }
        return kept
    }

    func resolve(_ fix: LocationFix?) async throws -> LocationFix {
        if let fix { return fix }
        return try await location.currentFix()
    }

    func newID(_ now: Int64) -> RecordID {
        var rng = SystemRandomNumberGenerator()
        return RecordID.generate(at: Timestamp(milliseconds: now), using: &rng)
    }

    func record<T: Encodable>(_ value: T, type: RecordType, id: String, scope: DivisionCode, now: Int64) throws {
        let author = try person()
        try store.write { tx in
            _ = try engine.record(Draft(creating: value, type: type, id: id, scope: scope, author: author), physicalNow: now, in: tx)
        }
    }

    /// Records each photo's metadata (its bytes are already in the vault) and one timeline entry that refers to them.
    func recordEvidence(_ caseID: RecordID, photos: [(sha256: String, size: Int64)], text: String, kind: TimelineEntry.Kind,
                        scope: DivisionCode, author: String, now: Int64, physical: Int64? = nil, _ tx: any SyncTransaction) throws {
        // One record per (case, digest): the same photo on two cases (of two townships) is two records.
        for photo in photos where try tx.recordState(RecordKey(.attachment, AttachmentMetadata.recordID(sha256: photo.sha256, caseID: caseID))) == nil {
            let metadata = AttachmentMetadata(
                sha256: photo.sha256, sizeBytes: photo.size, mediaType: Self.mediaType(of: vault.url(of: photo.sha256)), caseID: caseID,
                createdAt: Timestamp(milliseconds: now), author: author)
            try engine.record(Draft(creating: metadata, type: .attachment, id: AttachmentMetadata.recordID(sha256: photo.sha256, caseID: caseID), scope: scope, author: author), physicalNow: physical ?? now, in: tx)
        }
        let entry = TimelineEntry(id: newID(now), caseID: caseID, kind: kind, text: text, attachmentIDs: photos.map(\.sha256), author: author, at: Timestamp(milliseconds: now))
        try engine.record(Draft(creating: entry, type: .timelineEntry, id: entry.id.rawValue, scope: scope, author: author), physicalNow: physical ?? now, in: tx)
    }

    /// The media type from the file's first bytes (the vault keeps no extension): JPEG, PNG, MP4, PDF;
    /// JPEG otherwise (what phone cameras write).
    static func mediaType(of file: URL) -> String {
        let handle = try? FileHandle(forReadingFrom: file)
        defer { try? handle?.close() }
        let bytes = [UInt8]((try? handle?.read(upToCount: 12)) ?? Data())
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "image/png" }
        if bytes.starts(with: [0x25, 0x50, 0x44, 0x46]) { return "application/pdf" }
        if bytes.count >= 8, bytes[4...7] == [0x66, 0x74, 0x79, 0x70] { return "video/mp4" }
        return "image/jpeg"
    }
}
