#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), which Swift's Glibc module leaves out
/// (it is declared under `_GNU_SOURCE`); every argument is a plain C pointer.
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func spawnChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32

/// A child process started with `posix_spawn` and reaped with `waitpid` on its own pid.
///
/// Why not Foundation's `Process`: on Linux its exit monitoring can miss a child that exits while other
/// threads are launching processes; the child stays a zombie and `waitUntilExit()` never returns (seen in
/// this suite: a `tmux new-session -d` client, long exited, held a test — and CI — until the time limit).
/// Waiting on the pid itself cannot miss the exit.
public final class ChildProcess: @unchecked Sendable {
    /// Where a child's standard output or error goes.
    public enum Output: Sendable {
        case discard
        /// Into a file (created or truncated).
        case file(URL)
        /// Into a pipe the test reads from `ChildProcess.output` / `.errors` while the child runs.
        case pipe
    }

    /// How a child ended.
    public struct Termination: Sendable, Equatable {
        /// The exit code, or 128 + the signal for a child killed by a signal.
        public var status: Int32
        /// The signal that killed the child, if one did.
        public var signal: Int32?
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let pid: pid_t
    /// The read ends of `.pipe` outputs.
    public let output: FileHandle?
    public let errors: FileHandle?
    private let lock = NSLock()
    private var ended: Termination?

    /// Starts `executable` (an absolute path) with `arguments`, in `folder`, with `environment` (the
    /// test's own when nil) and standard input from /dev/null.
    public init(_ executable: String, _ arguments: [String], in folder: URL? = nil, environment: [String: String]? = nil,
                stdout: Output = .discard, stderr: Output = .discard) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var parentEnds: [Int32] = [], childEnds: [Int32] = []
        func wire(_ output: Output, to descriptor: Int32) throws -> FileHandle? {
            switch output {
            case .discard:
                posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_WRONLY, 0)
                return nil
            case .file(let url):
                posix_spawn_file_actions_addopen(&actions, descriptor, url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                return nil
            case .pipe:
                var ends: [Int32] = [0, 0]
                guard pipe(&ends) == 0 else { throw Failure(description: "pipe() failed: errno \(errno)") }
                _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
                posix_spawn_file_actions_adddup2(&actions, ends[1], descriptor)
                posix_spawn_file_actions_addclose(&actions, ends[1])
                parentEnds.append(ends[0]); childEnds.append(ends[1])
                return FileHandle(fileDescriptor: ends[0], closeOnDealloc: true)
            }
        }
        output = try wire(stdout, to: 1)
        errors = try wire(stderr, to: 2)
        if let folder { _ = spawnChdir(&actions, folder.path) }

        let environmentLines = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environmentLines.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, nil, argv, envp)
        childEnds.forEach { close($0) }
        guard result == 0 else {
            parentEnds.forEach { close($0) }
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
    }

    /// Waits for the child to end (once; later calls return the same answer).
    @discardableResult
    public func wait() -> Termination {
        lock.lock()
        defer { lock.unlock() }
        if let ended { return ended }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let ending = Self.termination(status)
        ended = ending
        return ending
    }

    /// Whether the child still runs (reaps it if it has ended).
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if ended != nil { return false }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return true }
        ended = Self.termination(status)
        return false
    }

    /// Sends `signal` (SIGKILL by default) unless the child has already been reaped.
    public func kill(_ signal: Int32 = SIGKILL) {
        lock.lock()
        defer { lock.unlock() }
        if ended == nil { _ = Glibc.kill(pid, signal) }
    }

    /// Kills the child if it still runs and reaps it.
    @discardableResult
    public func stop(_ signal: Int32 = SIGKILL) -> Termination {
        kill(signal)
        return wait()
    }

    deinit {
        if ended == nil {
            _ = Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
    }

    private static func termination(_ status: Int32) -> Termination {
        let signal = status & 0x7f
        if signal == 0 { return Termination(status: (status >> 8) & 0xff, signal: nil) }
        return Termination(status: 128 + signal, signal: signal)
    }

    /// What a finished program printed.
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var error: String
    }

    /// Runs a program to completion and returns its exit status and what it printed (collected
    /// through files, so a chatty child can never block on a full pipe).
    public static func run(_ executable: String, _ arguments: [String], in folder: URL? = nil, environment: [String: String]? = nil) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tz-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out"), err = scratch.appendingPathComponent("err")
        let child = try ChildProcess(executable, arguments, in: folder, environment: environment, stdout: .file(out), stderr: .file(err))
        let ending = child.wait()
        func text(_ url: URL) -> String { (try? Data(contentsOf: url)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return Result(status: ending.status, output: text(out), error: text(err))
    }

    /// Runs `python3 -c script arguments…` and returns what it printed on standard output, trimmed
    /// (empty when the script failed: callers check the value).
    public static func python(_ script: String, _ arguments: [String]) throws -> String {
        try run("/usr/bin/env", ["python3", "-c", script] + arguments).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
