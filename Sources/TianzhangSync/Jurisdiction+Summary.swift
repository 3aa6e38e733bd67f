import TianzhangDomain

extension Jurisdiction {
    /// "county 371312", "township 371312001", "villages …": for messages to people.
    public var summary: String {
        switch self {
        case .county(let code): "county \(code)"
        case .township(let code): "township \(code)"
        case .villages(let codes): "villages \(codes.sorted().map(\.rawValue).joined(separator: ", "))"
        case .adjustedTownship(let code, let added, let removed):
            "township \(code)" + (added.isEmpty ? "" : " with \(added.sorted().map(\.rawValue).joined(separator: ", "))")
                + (removed.isEmpty ? "" : " without \(removed.sorted().map(\.rawValue).joined(separator: ", "))")
        }
    }
}
