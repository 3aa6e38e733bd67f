import Foundation
import TianzhangDomain

/// What one sync did, for people and for `--json`.
public struct SyncReport: Codable, Sendable {
    public var sent = 0
    public var accepted = 0
    public var merged = 0
    public var duplicates = 0
    /// Pages the upstream served from the start because its log had changed under this replica's cursor (SPEC §7.2 rule 6).
    public var cursorResets = 0
    public var rejected: [String] = []
    public var conflicts: [String] = []
    public var received = 0
    public var confirmedAtCounty = 0
    public var bytesReceived = 0
    public var attempts = 0
    /// JSON bytes of the pushed batches (before gzip).
    public var bytesSent = 0
    /// Pull pages committed.
    public var pages = 0
    /// The refused changes with their reason codes (the same as `rejected`, structured).
    public var rejections: [SyncRejection] = []
    /// The conflicts pushed changes met, with their rule (the same as `conflicts`, structured).
    public var conflictDetails: [SyncConflict] = []
    /// The changes this sync's pull was expected to receive in all, from the hub's estimate on the first page.
    public var estimatedTotal: Int?
    /// The jurisdiction `hello` answered when it differed from the one this replica held (`syncInScope`).
    public var jurisdictionChanged: Jurisdiction?
    /// What the replica removed because its jurisdiction shrank (`syncInScope`).
    public var removed: ScopeNarrowing?
    /// Attachments whose bytes this sync uploaded (or found already whole upstream), and the bytes it sent.
    public var attachmentsUploaded = 0
    public var attachmentBytesSent = 0
    /// Attachments in the outbox whose bytes are not on this replica (their records still go up).
    public var attachmentsMissing: [String] = []
    /// Attachments the receiver refused, with its reason (e.g. `digest_mismatch`).
    public var attachmentsRefused: [String] = []
    /// Changes the receiver did not take yet and that stay pending (`attachment_bytes_missing`: their bytes
    /// are not up); the next sync uploads the bytes again and resends them.
    public var waiting: [SyncRejection] = []
    /// What `hello` told of this replica's clock (`syncInScope`).
    public var clock: ClockReading?
    /// What this sync found and repaired of a store restored on either side (`syncInScope`, SPEC §7.2).
    public var recovery: RollbackFindings?
    public init() {}
}

/// A replica's sync with its upstream, the one every replica runs — township nodes and patrol devices
/// over HTTP (`SyncClient`), the simulation and the test fixtures over an in-memory transport: `hello`
/// (clock, scope, restores; `syncInScope`), then attachment bytes, then the outbox in small idempotent
/// batches, then the pull, each applied in one transaction with its checkpoint; a failed step is retried
/// with backoff and smaller batches, and what was committed before stays committed.
public struct SyncSession: Sendable {
    public let host: any ReplicaHost
    public let store: any SyncStore
    public let engine: SyncEngine
    public let transport: any SyncTransport
    public let replica: ReplicaID
    public var batchChangesMax = 100
    public var pageChangesMax = 500
    public var retriesMax = 8
    public var backoffFirst: Duration = .milliseconds(200)
    /// Called after every committed push batch and pull page, and before every retry.
    public var observer: (@Sendable (SyncProgress) -> Void)?
    public let clock: @Sendable () -> Int64
    /// How the session waits before a retry (a real sleep; the simulation's scheduler in simulated time).
    public var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    /// Where this replica keeps attachment bytes (its own photos, or those its patrols uploaded to it).
    /// Their bytes go up before the records that refer to them.
    public var vault: (any AttachmentSource)?
    /// Whether the report counts the JSON bytes of pushes and pulls (an extra encoding of each; the
    /// simulation, which runs thousands of syncs, leaves it off).
    public var countsBytes = true
    /// Pull this replica's own changes too (set by `syncInScope` while it recovers them after a restore).
    public var includeOwnChanges = false

    public init(host: any ReplicaHost, engine: SyncEngine, transport: any SyncTransport, replica: ReplicaID, vault: (any AttachmentSource)? = nil,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.host = host
        store = host.syncStore
        self.engine = engine
        self.transport = transport
        self.replica = replica
        self.vault = vault
        self.clock = clock
    }

    /// Pushes, then pulls, until both are done; a failed step is retried (with exponential backoff, up to
    /// `retriesMax` times in a row); whatever was committed before a failure stays committed.
    public func sync(progress: @Sendable (String) -> Void = { _ in }) async throws -> SyncReport {
        var report = SyncReport()
        var failures = 0
        var delay = backoffFirst
        // Sizes adapt to the link: halved after a failed step (a link that cuts long bodies still
        // passes short ones), doubled back after a step that went through.
        var sizes = (batch: batchChangesMax, page: pageChangesMax)
        let started = ContinuousClock.now
        let observer = self.observer
        let notify: @Sendable (SyncProgress.Phase, SyncReport, String?) -> Void = { phase, report, failure in
            let elapsed = ContinuousClock.now - started
            observer?(SyncProgress(
                phase: phase, sent: report.sent, received: report.received, estimatedTotal: report.estimatedTotal, pages: report.pages, bytesReceived: report.bytesReceived,
                bytesSent: report.bytesSent, elapsedSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                attempt: report.attempts, failure: failure))
        }
        while true {
            report.attempts += 1
            let progressBefore = report.sent + report.received + report.attachmentBytesSent
            do {
                try await uploadAttachments(&report, chunkBytes: max(8 * 1024, 128 * 1024 * sizes.batch / max(1, batchChangesMax)), progress: progress)
                try await pushAll(&report, sizes: &sizes, progress: progress, observe: notify)
                try await pullAll(&report, sizes: &sizes, progress: progress, observe: notify)
                return report
            } catch let error as SyncClientError where error.isRetryable && failures < retriesMax {
                // Whatever was committed before the failure stays; only failures in a row count.
                if report.sent + report.received + report.attachmentBytesSent > progressBefore {
                    failures = 0
                    delay = backoffFirst
                }
                failures += 1
                // Down to one change a request: a link that cuts every body past a few KB still passes one.
                sizes = (max(1, sizes.batch / 2), max(1, sizes.page / 2))
                progress("link failed (\(error)); retrying in \(delay) with batches of \(sizes.batch), pages of \(sizes.page)")
                notify(.retrying, report, "\(error)")
                try await sleep(delay)
                delay *= 2
            }
        }
    }

    /// Uploads the bytes of every attachment in the outbox that the upstream does not hold whole yet,
    /// each resuming from the byte the upstream last confirmed (SPEC §10).
    /// - Parameter chunkBytes: shrinks with the batch size after failures, so a link that cuts long bodies still passes chunks.
    func uploadAttachments(_ report: inout SyncReport, chunkBytes: Int, progress: (String) -> Void) async throws {
        guard let vault else { return }
        let waiting = try store.read { tx in try tx.entries(delivery: .pending) }.filter { $0.change.recordType == .attachment }
        var seen = Set<String>()
        for entry in waiting {
            // The digest is the record's `sha256` field (ids per case and digest), or its id (older records).
            guard let sha256 = SyncEngine.attachmentDigest(of: entry.change), seen.insert(sha256).inserted else { continue }
            guard vault.has(sha256) else {
                if !report.attachmentsMissing.contains(sha256) { report.attachmentsMissing.append(sha256) }
                continue
            }
            // Confirmed chunks count as progress even when a later chunk is cut (the next attempt resumes after them).
            let confirmed = ByteCount()
            defer { report.attachmentBytesSent += confirmed.value }
            do {
                let uploader = AttachmentUploader(vault: vault, transport: transport, chunkBytes: chunkBytes)
                let (_, sent) = try await uploader.upload(sha256, size: try vault.size(of: sha256), record: entry.change.recordID) { confirmed.add(Int($0)) }
                report.attachmentsUploaded += 1
                progress("uploaded attachment \(sha256.prefix(12))… (\(sent) bytes sent)")
            } catch let error as SyncClientError {
                guard case .refused(let status, let refusal) = error, status < 500 || status == 507 else { throw error }
                report.attachmentsRefused.append("\(sha256): \(refusal)")
                progress("attachment \(sha256.prefix(12))… not uploaded (\(refusal.code)): its record stays pending")
            }
        }
    }

    func pushAll(_ report: inout SyncReport, sizes: inout (batch: Int, page: Int), progress: (String) -> Void,
                 observe: (SyncProgress.Phase, SyncReport, String?) -> Void = { _, _, _ in }) async throws {
        // Changes the receiver answered `attachment_bytes_missing` stay pending; later batches leave them out.
        var waiting = Set<ChangeID>()
        while let request = try store.read({ [sizes, waiting] in try engine.nextPush(limit: sizes.batch, excluding: waiting, in: $0) }) {
            let response = try await transport.push(request)
            sizes.batch = min(batchChangesMax, sizes.batch * 2)
            let summary = try store.write { try engine.handle(response, in: $0) }
            waiting.formUnion(summary.waiting.map(\.id))
            let byID = Dictionary(request.changes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            report.waiting += summary.waiting.compactMap { waiting in
                byID[waiting.id].map { SyncRejection(LogEntry(seq: 0, change: $0, delivery: .pending, rejection: waiting.rejection)) }
            }
            report.sent += request.changes.count
            report.accepted += summary.accepted
            report.merged += summary.merged
            report.duplicates += summary.duplicates
            report.rejected += summary.rejected.map { "\($0.change.id): \($0.rejection?.description ?? "")" }
            report.conflicts += summary.conflicts.map { "\($0.id) (\($0.kind.rawValue))" }
            report.rejections += summary.rejected.map(SyncRejection.init)
            report.conflictDetails += summary.conflicts.map(SyncConflict.init)
            if countsBytes { report.bytesSent += (try? Self.sizer.encode(request).count) ?? 0 }
            progress("pushed \(report.sent)")
            observe(.push, report, nil)
        }
    }

    func pullAll(_ report: inout SyncReport, sizes: inout (batch: Int, page: Int), progress: (String) -> Void,
                 observe: (SyncProgress.Phase, SyncReport, String?) -> Void = { _, _, _ in }) async throws {
        while true {
            let cursor = try store.read { try $0.checkpoint(peer: "hub") }
            var request = PullRequest(puller: replica, after: cursor, limit: sizes.page, estimate: report.estimatedTotal == nil ? true : nil)
            if includeOwnChanges { request.includeOwn = true }
            if let saved = try host.setting(Self.cursorTokenSetting), saved.hasPrefix("\(cursor) ") {
                request.afterToken = String(saved.dropFirst("\(cursor) ".count))
            }
            let page = try await transport.pull(request)
            if page.cursorReset == true {
                progress("the upstream's log holds other entries than this replica pulled (its store was restored from an earlier copy): pulling from the start")
                report.cursorResets += 1
            }
            sizes.page = min(pageChangesMax, sizes.page * 2)
            if countsBytes { report.bytesReceived += (try? Self.sizer.encode(page).count) ?? 0 }
            let keys = try pulledOriginKeys(page)
            let summary = try store.write { try engine.apply(page, from: "hub", originKeys: { keys[$0] ?? .notChecked }, physicalNow: clock(), in: $0) }
            // After the page is applied: a crash between the two leaves an old token, which only costs a pull from the start.
            try host.setSetting(Self.cursorTokenSetting, page.cursorToken.map { "\(page.next) \($0)" } ?? "")
            report.received += summary.applied
            if report.estimatedTotal == nil, let remaining = page.remaining { report.estimatedTotal = report.received + remaining }
            report.confirmedAtCounty += summary.confirmedAtCounty
            report.pages += 1
            progress("received \(report.received)")
            observe(.pull, report, nil)
            if !page.more { return }
        }
    }
}

extension SyncSession {
    /// The keys this replica checks a pulled page's changes against (SPEC §2.7): the county's, carried
    /// in the credential it issued; patrols', from the `enrolment` records this replica holds. Changes of
    /// other origins (another township's node) are not checked here: the hub checked them on the way in.
    func pulledOriginKeys(_ page: PullResponse) throws -> [ReplicaID: OriginKeys] {
        var keys: [ReplicaID: OriginKeys] = [:]
        for origin in Set(page.changes.map(\.origin)) {
            switch origin.kind {
            case .hub:
                if let key = Credential.hubPublicKey(in: transport.credential) { keys[origin] = .keys([key]) }
            case .patrol:
                if case .keys(let known) = try host.patrolKeys(of: origin) { keys[origin] = .keys(known) }
            case .node:
                break
            }
        }
        return keys
    }
}

extension SyncSession {
    /// Encodes messages as on the wire (before gzip), to count their bytes.
    static let sizer: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

/// Bytes confirmed so far, counted from the uploader's callback.
final class ByteCount: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    var value: Int { lock.withLock { total } }
    func add(_ count: Int) { lock.withLock { total += count } }
}
