import Testing

/// A trait for tests that block their thread for seconds at a time (waiting on child processes,
/// polling files, semaphores). Swift Testing runs tests on the cooperative pool, which has one thread
/// per core — two on the project machine. Two such tests at once leave no thread for the tests that
/// serve HTTP in-process, whose handlers then stall (seen: a TLS sync test failing with "the link
/// stalled below 64 B/s for 15 s" while two process tests waited). Tests with this trait take turns:
/// at most one of them holds a thread; waiting for the turn is asynchronous and holds none.
public struct BlocksAThread: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // A suite's own scope, and a parameterized test's scope around its cases, pass through: each case takes a turn.
        guard !test.isSuite, testCase != nil else { try await function(); return }
        await Turns.shared.take()
        do {
            try await function()
        } catch {
            await Turns.shared.pass()
            throw error
        }
        await Turns.shared.pass()
    }
}

extension Trait where Self == BlocksAThread {
    /// The test blocks its thread for a while: it takes turns with the other such tests.
    public static var blocksAThread: Self { BlocksAThread() }
}

/// One turn at a time, handed over in arrival order.
actor Turns {
    static let shared = Turns()
    private var taken = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func take() async {
        if !taken {
            taken = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func pass() {
        if waiting.isEmpty { taken = false } else { waiting.removeFirst().resume() }
    }
}
