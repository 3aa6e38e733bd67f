import Foundation

/// The PostgreSQL server of the test run: `TIANZHANG_TEST_POSTGRES` (a postgres:// URL), set by
/// `scripts/test.sh` after it starts a throwaway cluster. `TIANZHANG_REQUIRE_POSTGRES=1` (also set by
/// the script) turns a missing server into failures instead of fewer test cases.
public enum TestPostgres {
    static let environment = ProcessInfo.processInfo.environment
    public static var enabled: Bool { environment["TIANZHANG_TEST_POSTGRES"] != nil || environment["TIANZHANG_REQUIRE_POSTGRES"] == "1" }

    public struct Missing: Error, CustomStringConvertible {
        public var description = "TIANZHANG_REQUIRE_POSTGRES=1 but TIANZHANG_TEST_POSTGRES is not set: run the suite with scripts/test.sh, which starts the server"
    }

    public static func url() throws -> String {
        guard let url = environment["TIANZHANG_TEST_POSTGRES"] else { throw Missing() }
        return url
    }

    /// A schema name no other test uses.
    public static func freshSchema() -> String { "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20) }
}
