import Foundation
import TianzhangHTTP

/// Draws a sync's progress on standard error: a bar redrawn in place with `\r` when standard error is
/// a terminal, plain lines otherwise (one per committed page or batch, and one per retry), so logs and
/// tests read the same facts as a person does.
final class ProgressDisplay: @unchecked Sendable {
    let terminal: Bool
    let lock = NSLock()
    var drewBar = false

    init(terminal: Bool = isatty(2) == 1) { self.terminal = terminal }

    /// One progress report from the sync runner.
    func show(_ progress: SyncProgress) {
        lock.withLock {
            switch progress.phase {
            case .retrying:
                finishBar()
                write("link failed on attempt \(progress.attempt) (\(progress.failure ?? "unknown")); retrying; \(progress.received) records kept so far\n")
            case .push:
                if terminal { drawBar("push", count: progress.sent, bytes: progress.bytesSent, progress: progress) } else {
                    write("pushed \(progress.sent) records, \(Self.kib(progress.bytesSent)) KiB\n")
                }
            case .pull:
                if terminal { drawBar("pull", count: progress.received, bytes: progress.bytesReceived, progress: progress) } else {
                    write(Self.line(progress) + "\n")
                }
            }
        }
    }

    /// Ends the in-place bar with a newline, so later output starts on its own line.
    func finish() { lock.withLock { finishBar() } }

    func say(_ text: String) { lock.withLock { finishBar(); write(text + "\n") } }

    private func finishBar() {
        if drewBar { write("\n"); drewBar = false }
    }

    private func drawBar(_ label: String, count: Int, bytes: Int, progress: SyncProgress) {
        // With the hub's estimate the bar fills; without one (an older hub, or pushing) it shows a moving
        // marker per page instead, and the counts and rates, which are exact.
        let width = 20
        let bar: String
        if label == "pull", let fraction = progress.fraction {
            let filled = Int((fraction * Double(width)).rounded(.down))
            bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        } else {
            let position = (progress.pages + progress.sent / 100) % width
            bar = String(repeating: "=", count: position) + ">" + String(repeating: " ", count: width - position - 1)
        }
        let text = "\(label) [\(bar)] \(Self.line(progress, verb: label == "push" ? "sent" : "received", count: count, bytes: bytes))"
        write("\r\u{1B}[2K" + text)
        drewBar = true
    }

    /// `received 1200 records, 640.5 KiB, 310 records/s, 165.2 KiB/s, page 12`.
    static func line(_ progress: SyncProgress, verb: String = "received", count: Int? = nil, bytes: Int? = nil) -> String {
        let count = count ?? progress.received
        let bytes = bytes ?? progress.bytesReceived
        let rate = progress.elapsedSeconds > 0 ? Double(count) / progress.elapsedSeconds : 0
        let byteRate = progress.elapsedSeconds > 0 ? Double(bytes) / progress.elapsedSeconds : 0
        var of = ""
        if verb == "received", let total = progress.estimatedTotal, let fraction = progress.fraction {
            of = " of ~\(total) (\(Int((fraction * 100).rounded(.down)))%\(rate > 0 && total > count ? ", ~\(Int((Double(total - count) / rate).rounded(.up))) s left" : ""))"
        }
        return "\(verb) \(count)\(of) records, \(kib(bytes)) KiB, \(String(format: "%.0f", rate)) records/s, \(kib(Int(byteRate))) KiB/s, page \(progress.pages)"
    }

    static func kib(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1024) }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
