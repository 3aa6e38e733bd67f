import TianzhangDomain

extension SyncEngine {
    /// Rebuilds a record's merged state from the changes of it still in the log (after a store forgot
    /// changes it may no longer hold); removes the state when none is left.
    public func rebuild(_ key: RecordKey, in tx: any SyncTransaction) throws { try refold(key, tx) }
}

extension Jurisdiction {
    /// The division an origin's receipts and a patrol's enrolment record live in: one every puller
    /// entitled to them covers (the county, the township, or the first of a set of villages).
    public var home: DivisionCode { SyncEngine.home(self) }
}
