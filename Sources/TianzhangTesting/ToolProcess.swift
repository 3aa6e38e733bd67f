import Foundation

/// Runs a program to completion for an end-to-end test and collects what it printed.
public enum ToolProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var error: String
    }

    /// The `tianzhang` executable built with the tests, found from a test file's path (`#filePath`):
    /// `<package>/.build/debug/tianzhang`.
    public static func tianzhang(testFile: String) -> URL {
        var url = URL(fileURLWithPath: testFile)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let candidates = [".build/debug/tianzhang", ".build/x86_64-unknown-linux-gnu/debug/tianzhang"].map { url.appendingPathComponent($0) }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// Runs `executable` in `folder` (with `NO_COLOR=1` added to the environment when `noColor`) and waits for it.
    /// - Parameter extraEnvironment: variables added to the environment (e.g. `TIANZHANG_TEST_CLOCK_SKEW_MS`).
    public static func run(_ executable: URL, _ arguments: [String], in folder: URL, noColor: Bool = true, extraEnvironment: [String: String] = [:]) throws -> Result {
        var environment = ProcessInfo.processInfo.environment
        if noColor { environment["NO_COLOR"] = "1" }
        environment.merge(extraEnvironment) { $1 }
        let result = try ChildProcess.run(executable.path, arguments, in: folder, environment: environment)
        return Result(status: result.status, output: result.output, error: result.error)
    }
}
