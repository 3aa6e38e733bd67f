import Foundation

/// Where a sync stands, reported after every pushed batch, every pulled page and every retry, so a
/// command line can draw a progress bar (records, bytes, rates) without parsing log lines.
public struct SyncProgress: Sendable, Hashable {
    public enum Phase: String, Sendable, Hashable, Codable {
        /// A push batch was answered and committed.
        case push
        /// A pull page was applied and committed with its checkpoint.
        case pull
        /// A step failed on the link; the runner waits and retries with smaller batches.
        case retrying
    }

    public var phase: Phase
    /// Changes pushed so far in this sync.
    public var sent: Int
    /// Changes received and applied so far in this sync.
    public var received: Int
    /// The changes the pull is expected to receive in all (the hub's estimate on the first page), if known.
    public var estimatedTotal: Int?
    /// Pull pages committed so far in this sync.
    public var pages: Int
    /// JSON bytes of the pulled pages (before gzip on the wire) so far.
    public var bytesReceived: Int
    /// JSON bytes of the pushed batches (before gzip on the wire) so far.
    public var bytesSent: Int
    /// Seconds since the sync started (monotonic clock).
    public var elapsedSeconds: Double
    /// The attempt this progress belongs to (1, then 2 after the first retry, …).
    public var attempt: Int
    /// Why the runner is retrying (`phase == .retrying`).
    public var failure: String?

    public init(phase: Phase, sent: Int, received: Int, estimatedTotal: Int? = nil, pages: Int, bytesReceived: Int, bytesSent: Int, elapsedSeconds: Double, attempt: Int, failure: String? = nil) {
        self.phase = phase
        self.sent = sent
        self.received = received
        self.estimatedTotal = estimatedTotal
        self.pages = pages
        self.bytesReceived = bytesReceived
        self.bytesSent = bytesSent
        self.elapsedSeconds = elapsedSeconds
        self.attempt = attempt
        self.failure = failure
    }

    /// Received records per second so far (0 before any time has passed).
    public var recordsPerSecond: Double { elapsedSeconds > 0 ? Double(received) / elapsedSeconds : 0 }
    /// The received fraction of the estimated total (0…1), if the hub gave an estimate.
    public var fraction: Double? {
        guard let estimatedTotal else { return nil }
        return estimatedTotal > 0 ? min(1, Double(received) / Double(estimatedTotal)) : 1
    }

    /// Received bytes per second so far.
    public var bytesPerSecond: Double { elapsedSeconds > 0 ? Double(bytesReceived) / elapsedSeconds : 0 }
}

/// One change the receiver refused, as the sync report lists it.
public struct SyncRejection: Codable, Sendable, Hashable {
    public var change: String
    public var record: String
    public var code: String
    public var message: String
    public var field: String?

    public init(_ entry: LogEntry) {
        change = entry.change.id.description
        record = "\(entry.change.recordTypeName)/\(entry.change.recordID)"
        code = entry.rejection?.code.rawValue ?? "invalid_value"
        message = entry.rejection?.message ?? ""
        field = entry.rejection?.field
    }
}

/// One conflict a pushed change met at the receiver, as the sync report lists it.
public struct SyncConflict: Codable, Sendable, Hashable {
    public var id: String
    public var kind: String
    public var rule: String
    public var status: String

    public init(_ conflict: Conflict) {
        id = conflict.id
        kind = conflict.kind.rawValue
        rule = conflict.rule.rawValue
        status = conflict.status.rawValue
    }
}
