import TianzhangDomain

extension Draft {
    /// A draft that creates a record from a domain value (see `creationFields(of:type:)`).
    public init<T: Encodable>(creating value: T, type: RecordType, id: String, scope: DivisionCode, author: String) {
        self.init(type: type, id: id, scope: scope, author: author, fields: Self.creationFields(of: value, type: type))
    }

    /// The field operations that create a record from a domain value: every member but `id` is set
    /// (grow-only sets as additions); a case's `status` and `round` travel together as its workflow value.
    public static func creationFields<T: Encodable>(of value: T, type: RecordType) -> [String: FieldOperation] {
        var fields: [String: FieldOperation] = [:]
        for (key, member) in JSONValue(encoding: value).objectValue ?? [:] where key != "id" {
            fields[key] = RuleBook.rule(for: type, field: key) == .growOnlySet ? .add(member.arrayValue ?? []) : .set(member)
        }
        if type == .enforcementCase, case .set(let text)? = fields["status"], case .set(let round)? = fields["round"],
            let status = text.stringValue.flatMap(CaseStatus.init(rawValue:))
        {
            fields["status"] = .set(WorkflowValue(status: status, round: Int(round.numberValue ?? 1)).json)
            fields["round"] = nil
        }
        return fields
    }
}
