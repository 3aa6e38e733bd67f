import Foundation
import TianzhangDomain
import TianzhangHTTP
import TianzhangSQLite
import TianzhangSync

/// What `tianzhang node sync` does: push the outbox, then pull page by page (each page committed with its
/// checkpoint, so a cut or a kill resumes where it stopped), with a progress display on standard error and
/// a summary of what was sent, received and what conflicted.
struct NodeSyncSession {
    /// The setting that marks a finished bootstrap (the first pull that reached the end of the hub's log).
    static let bootstrapDoneSetting = "bootstrap.completed"

    var options: NodeCommand.Options
    var json: Bool
    var pageSize: Int?
    var batchSize: Int?
    /// Seconds a request may wait for the next bytes before it counts as a failed step (default 20).
    var timeout: Double?
    var link: LinkOptions?

    /// The report printed at the end: the runner's report plus the node's state after the sync.
    struct Summary: Encodable {
        var report: SyncReport
        /// Records the node already held when this sync resumed an unfinished bootstrap (`nil`: not resuming).
        var resumedBootstrapAfter: Int?
        var bootstrapComplete: Bool
        var openConflicts: Int
        var rejectedWaiting: Int
        var pending: Int

        enum Keys: String, CodingKey { case resumedBootstrapAfter, bootstrapComplete, openConflicts, rejectedWaiting, pending }

        func encode(to encoder: any Encoder) throws {
            try report.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encodeIfPresent(resumedBootstrapAfter, forKey: .resumedBootstrapAfter)
            try container.encode(bootstrapComplete, forKey: .bootstrapComplete)
            try container.encode(openConflicts, forKey: .openConflicts)
            try container.encode(rejectedWaiting, forKey: .rejectedWaiting)
            try container.encode(pending, forKey: .pending)
        }
    }

    func run() async throws {
        let (store, meta, engine) = try NodeCommand.open(options)
        var runner = SyncRunner(store: store, engine: engine, client: try Self.client(store, timeout: timeout, link: link), replica: meta.replica, clock: nowMilliseconds)
        if let pageSize { runner.pageChangesMax = max(1, pageSize) }
        if let batchSize { runner.batchChangesMax = max(1, batchSize) }
        let display = ProgressDisplay()
        runner.observer = { display.show($0) }

        let checkpoint = try store.read { try $0.checkpoint(peer: "hub") }
        let bootstrapped = try store.setting(Self.bootstrapDoneSetting) != nil
        var resumedAfter: Int?
        if checkpoint > 0 && !bootstrapped {
            let held = try store.changeCount(delivery: .received)
            resumedAfter = held
            display.say("resuming bootstrap after \(held) records (checkpoint \(checkpoint))")
        } else if checkpoint == 0 {
            display.say("bootstrap: downloading \(Wire.describe(meta.jurisdiction)) from the county hub")
        }
        let report: SyncReport
        do { report = try await runner.syncInScope { display.say($0) } } catch {
            display.finish()
            throw error
        }
        display.finish()
        // The runner returns only after a pull page said nothing more remains: the bootstrap is done.
        try store.setSetting(Self.bootstrapDoneSetting, String(nowMilliseconds()))

        let summary = try store.summary()
        let conflicts = try store.read { try engine.conflicts(in: meta.jurisdiction, in: $0) }
        let rejectedWaiting = try store.read { tx in
            try tx.entries(delivery: .rejected).filter { $0.change.origin == meta.replica && $0.amendedBy == nil }.count
        }
        let body = Summary(
            report: report, resumedBootstrapAfter: resumedAfter, bootstrapComplete: true, openConflicts: conflicts.filter { $0.status == .open }.count,
            rejectedWaiting: rejectedWaiting, pending: summary.pendingChanges)
        if json {
            print(String(decoding: try Wire.encoder.encode(body), as: UTF8.self))
        } else {
            print(Self.human(body))
        }
    }

    /// The hub client with this sync's link limits (`--timeout` sets the low-speed time).
    /// - Throws: `CLIError` when the node has no hub address or credential.
    static func client(_ store: SQLiteReplicaStore, timeout: Double?, link: LinkOptions?) throws -> SyncClient {
        guard let hub = try store.setting("hub.url").flatMap(URL.init(string:)), let credential = try store.setting("hub.credential") else {
            throw CLIError("This node has no hub address or credential; run `tianzhang node init`.")
        }
        var options = try NodeCommand.clientOptions(store, link: link)
        if let timeout { options.lowSpeedTime = max(1, Int(timeout.rounded(.up))) }
        return SyncClient(baseURL: hub, credential: credential, options: options)
    }

    /// The summary for people: one line per fact, reasons and rules spelled out.
    static func human(_ body: Summary) -> String {
        let report = body.report
        var lines: [String] = []
        lines.append("sent \(report.sent) (accepted \(report.accepted), merged \(report.merged), duplicates \(report.duplicates), rejected \(report.rejections.count)), \(ProgressDisplay.kib(report.bytesSent)) KiB of JSON")
        for rejection in report.rejections {
            lines.append("  rejected \(rejection.change) \(rejection.record): \(rejection.code)\(rejection.field.map { " at \($0)" } ?? ""): \(rejection.message)")
        }
        for waiting in report.waiting {
            lines.append("  pending \(waiting.change) \(waiting.record): \(waiting.code): \(waiting.message)")
        }
        for refused in report.attachmentsRefused {
            lines.append("  photo not uploaded, its record stays pending: \(refused)")
        }
        for conflict in report.conflictDetails {
            lines.append("  conflict \(conflict.id): \(conflict.kind) under rule \(conflict.rule) (\(ruleSentence(conflict.rule)))")
        }
        lines.append("received \(report.received) in \(report.pages) page(s), \(ProgressDisplay.kib(report.bytesReceived)) KiB of JSON (before gzip); \(report.confirmedAtCounty) of this node's changes confirmed at the county")
        lines.append("\(report.attempts) attempt(s); \(body.pending) changes waiting; \(body.openConflicts) open conflict(s) (tianzhang node conflicts); \(body.rejectedWaiting) rejected change(s) to amend (tianzhang node rejected)")
        return lines.joined(separator: "\n")
    }

    static func ruleSentence(_ rule: String) -> String {
        switch FieldRule(rawValue: rule) {
        case .lastWriterWins: "the later write shows; the township or the county confirms"
        case .workflow: "the confirmed line stays the provisional winner; the county decides"
        case .immutable: "the first write stands"
        case .hubOwned: "the county's data; the county decides"
        default: "see Protocol/CONFLICTS.md"
        }
    }
}
