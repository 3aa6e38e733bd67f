import Foundation
import Testing
import TianzhangDomain

@Suite("Jurisdictions after village moves")
struct JurisdictionMoveTests {
    let t1 = try! DivisionCode("371312001"), t2 = try! DivisionCode("371312002")
    let v = try! DivisionCode("371312001203"), stay = try! DivisionCode("371312001201"), w = try! DivisionCode("371312002201")

    @Test("a moved village is covered by its new township only; it keeps its code; moving it back restores plain townships")
    func moving() throws {
        let old = Jurisdiction.township(t1).moving(village: v, to: t2)
        let new = Jurisdiction.township(t2).moving(village: v, to: t2)
        #expect(old == .adjustedTownship(t1, added: [], removed: [v]))
        #expect(new == .adjustedTownship(t2, added: [v], removed: []))
        #expect(!old.covers(v) && new.covers(v))
        #expect(old.covers(stay) && old.covers(t1) && !new.covers(stay))
        #expect(new.covers(w) && new.covers(t2) && !old.covers(w))
        #expect(old.moving(village: v, to: t1) == .township(t1))
        #expect(new.moving(village: v, to: t1) == .township(t2))
        // County and village-set jurisdictions do not change.
        #expect(Jurisdiction.county(try DivisionCode("371312")).moving(village: v, to: t2) == .county(try DivisionCode("371312")))
        #expect(Jurisdiction.villages([v]).moving(village: v, to: t2) == .villages([v]))
        #expect(Jurisdiction.township(t2).moving(village: stay, to: t1) == .township(t2), "a third township is untouched")
    }

    @Test("the JSON form round-trips, stays plain when nothing moved, and refuses added villages already inside or removed ones outside")
    func json() throws {
        let adjusted = Jurisdiction.adjustedTownship(t1, added: [w], removed: [v])
        let text = String(decoding: try JSONEncoder().encode(adjusted), as: UTF8.self)
        #expect(text.contains("\"addedVillages\":[\"371312002201\"]") && text.contains("\"removedVillages\":[\"371312001203\"]"))
        #expect(try JSONDecoder().decode(Jurisdiction.self, from: Data(text.utf8)) == adjusted)
        #expect(try JSONDecoder().decode(Jurisdiction.self, from: Data(#"{"township":"371312001","addedVillages":[],"removedVillages":[]}"#.utf8)) == .township(t1))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Jurisdiction.self, from: Data(#"{"township":"371312001","addedVillages":["371312001201"]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Jurisdiction.self, from: Data(#"{"township":"371312001","removedVillages":["371312002201"]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Jurisdiction.self, from: Data(#"{"township":"371312001","removedVillages":["371312001"]}"#.utf8)) }
    }
}
