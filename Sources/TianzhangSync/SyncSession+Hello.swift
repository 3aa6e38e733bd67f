import Foundation
import TianzhangDomain

/// The upstream refused this replica's credential as revoked; the replica has removed what it may no
/// longer hold and kept its own undelivered changes (`ReplicaHost.narrow(to:engine:)`).
public struct CredentialRevoked: Error, CustomStringConvertible, Sendable {
    /// The upstream's refusal (`revoked_credential`).
    public var refusal: ProtocolError
    public var removed: ScopeNarrowing

    public var code: String { refusal.code }

    public var description: String {
        "\(refusal.code): \(refusal.message) Removed \(removed.records) records and \(removed.changes) changes this replica may no longer hold; "
            + "kept \(removed.kept) changes not yet at the county (`tianzhang node outbox` lists them for export)."
    }
}

extension SyncSession {
    /// The setting that remembers which server this replica last synced with.
    static let upstreamSetting = "upstream.server"
    /// The upstream store's incarnation at the last sync (SPEC §7.2).
    static let upstreamIncarnationSetting = "upstream.incarnation"
    /// Set while this replica re-pulls its own changes after its store was found restored.
    static let recoverOwnSetting = "recover.own"
    /// The upstream's `cursorToken` for this replica's checkpoint: "<cursor> <token>" (SPEC §5).
    static let cursorTokenSetting = "upstream.cursor-token"

    /// A sync that first asks `hello` what this replica may hold, then pushes and pulls (`sync`):
    /// - when the jurisdiction the upstream answers differs from the one held (a village moved, the
    ///   credential was re-bound), the replica removes records outside it, takes it, and pulls from the
    ///   start (changes already held are skipped), so it also receives what it gained;
    /// - when the upstream is another server than last time (a patrol now served by another node), the
    ///   pull starts from the beginning of that server's log;
    /// - when the upstream refuses the credential as revoked (at `hello`, push or pull), the replica
    ///   removes everything it received and keeps only its own undelivered changes.
    /// - Throws: `CredentialRevoked` (code `revoked_credential`); `SyncClientError` when the upstream
    ///   refuses otherwise or the link stays down after the retries.
    public func syncInScope(progress: @Sendable (String) -> Void = { _ in }) async throws -> SyncReport {
        do {
            let (hello, sentAt, receivedAt, sentOriginSeq) = try await helloWithRetry(progress: progress)
            var clockReading = try store.write { tx in try engine.learnCountyTime(serverTime: hello.serverTime, sentAt: sentAt, receivedAt: receivedAt, in: tx) }
            if abs(clockReading.offsetMilliseconds) >= SyncEngine.stampDriftMilliseconds {
                progress("this device's clock is \(Self.describeSkew(-clockReading.offsetMilliseconds)) of the county's; changes are stamped in the county's time")
            }
            if clockReading.rewoundMilliseconds > 0 {
                progress("this replica's clock had run \(clockReading.rewoundMilliseconds / 1000) s ahead of the county's; brought back")
            }
            var changed: Jurisdiction?
            var removed: ScopeNarrowing?
            if let meta = try store.read({ try $0.meta() }), meta.jurisdiction != hello.jurisdiction {
                changed = hello.jurisdiction
                removed = try host.narrow(to: hello.jurisdiction, engine: engine)
                progress("jurisdiction is now \(hello.jurisdiction.summary): removed \(removed!.records) records outside it; pulling from the start")
            }
            if let last = try host.setting(Self.upstreamSetting), last != hello.server.rawValue {
                try store.write { tx in try tx.saveCheckpoint(peer: "hub", cursor: 0) }
                progress("now served by \(hello.server) (was \(last)): pulling its log from the start")
            }
            try host.setSetting(Self.upstreamSetting, hello.server.rawValue)
            let knownIncarnation = try host.setting(Self.upstreamIncarnationSetting)
            let findings = try store.write { tx in try engine.reconcile(hello, knownIncarnation: knownIncarnation, checkpoint: "hub", sentOriginSeq: sentOriginSeq, physicalNow: clock(), in: tx) }
            if let incarnation = hello.incarnation { try host.setSetting(Self.upstreamIncarnationSetting, incarnation) }
            if findings.recoverOwn { try host.setSetting(Self.recoverOwnSetting, "1") }
            if findings.ownSeqsSkipped > 0 { progress("the upstream holds \(findings.ownSeqsSkipped) changes of this replica this store did not have: new changes skip past them") }
            if !findings.renumbered.isEmpty { progress("\(findings.renumbered.count) changes made since this store was restored reused seqs the upstream holds: recorded again (\(findings.renumbered.joined(separator: ", ")))") }
            if findings.resent > 0 { progress("the upstream no longer holds \(findings.resent) changes it had confirmed: sending them again") }
            if let reason = findings.repullReason { progress("pulling from the start: \(reason)") }
            // After the seqs the upstream holds are skipped (`reconcile`): changes recorded again take new ones.
            // Only on a reading to rely on: a clock set during the request (it went back, or the answer took
            // over a minute) leaves them for the next hello.
            let reliable = receivedAt >= sentAt && receivedAt - sentAt <= 60_000
            let restamped = reliable ? try store.write { tx in try engine.restampAhead(physicalNow: receivedAt, hello: hello, in: tx) } : []
            if !restamped.isEmpty {
                clockReading.restamped = restamped
                progress("\(restamped.count) changes made while this clock ran ahead were recorded again in the county's time (\(restamped.joined(separator: ", ")))")
            }
            var runner = self
            runner.includeOwnChanges = try host.setting(Self.recoverOwnSetting) == "1"
            var report = try await runner.sync(progress: progress)
            if runner.includeOwnChanges { try host.setSetting(Self.recoverOwnSetting, "0") }
            report.jurisdictionChanged = changed
            report.removed = removed
            report.clock = clockReading
            report.recovery = findings.isEmpty ? nil : findings
            return report
        } catch let error as SyncClientError {
            guard case .refused(_, let refusal) = error, refusal.code == "revoked_credential" else { throw error }
            let removed = try host.narrow(to: nil, engine: engine)
            throw CredentialRevoked(refusal: refusal, removed: removed)
        }
    }

    /// - Returns: the answer, and this replica's wall clock when the answering request was sent and answered.
    /// - Returns: also the `originSeq` the answered request carried.
    func helloWithRetry(progress: (String) -> Void) async throws -> (HelloResponse, sentAt: Int64, receivedAt: Int64, sentOriginSeq: UInt64?) {
        var delay = backoffFirst
        var failures = 0
        while true {
            let answer: Result<HelloResponse, SyncClientError>
            let sentAt = clock()
            let upstream = try host.setting(Self.upstreamSetting).flatMap { try? ReplicaID($0) }
            let request = try store.read { tx in try engine.describeForHello(HelloRequest(replica: replica), localTime: sentAt, checkpoint: "hub", upstream: upstream, in: tx) }
            do { answer = .success(try await transport.hello(request)) } catch { answer = .failure(error) }
            switch answer {
            case .success(let hello): return (hello, sentAt, clock(), request.originSeq)
            case .failure(let error):
                guard error.isRetryable, failures < retriesMax else { throw error }
                failures += 1
                progress("link failed (\(error)); retrying hello in \(delay)")
                try await sleep(delay)
                delay *= 2
            }
        }
    }
}

extension SyncSession {
    /// "6 h 0 min ahead", "3 min behind" (positive: this clock is ahead).
    static func describeSkew(_ skew: Int64) -> String {
        let minutes = (abs(skew) + 30_000) / 60_000
        let text = minutes >= 60 ? "\(minutes / 60) h \(minutes % 60) min" : "\(minutes) min"
        return text + (skew > 0 ? " ahead" : " behind")
    }
}
