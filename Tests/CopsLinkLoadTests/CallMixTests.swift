import CopsLinkCore
import CopsLinkLoad
import CopsLinkTestSupport
import Testing

@Suite("call mix")
struct CallMixTests {
    @Test("parses weights in the order given, ignoring case and spaces")
    func parsesWeights() throws {
        let mix = try CallMix.parse("GetAccount=80, placeontest=5,PlaceOffTest=5 ,RequestTestData=10")
        #expect(mix.methods == [.getAccount, .placeOnTest, .placeOffTest, .requestTestData])
        #expect(mix.entries.map(\.weight) == [80, 5, 5, 10])
        #expect(mix.totalWeight == 100)
        #expect(mix.description == "GetAccount=80,PlaceOnTest=5,PlaceOffTest=5,RequestTestData=10")
    }

    @Test("every method name parses")
    func everyMethod() throws {
        let text = LoadMethod.allCases.map { "\($0.name)=1" }.joined(separator: ",")
        #expect(try CallMix.parse(text).methods == LoadMethod.allCases)
    }

    @Test("zero weights drop the method; the default mix is GetAccount=100")
    func zeroWeightAndDefault() throws {
        let mix = try CallMix.parse("GetAccount=3,Health=0")
        #expect(mix.methods == [.getAccount])
        #expect(CallMix.defaultMix.methods == [.getAccount])
        #expect(CallMix.defaultMix.totalWeight == 100)
    }

    @Test(
        "unknown method, zero total, malformed items and duplicates are errors",
        arguments: [
            ("GetAccount=80,Frobnicate=20", "unknown method 'Frobnicate'"),
            ("GetAccount=0,Health=0", "add up to zero"),
            ("", "empty"),
            ("GetAccount", "must look like Method=weight"),
            ("GetAccount=-1", "whole number"),
            ("GetAccount=1.5", "whole number"),
            ("GetAccount=x", "whole number"),
            ("GetAccount=1,getaccount=2", "twice"),
            ("GetAccount=1,,Health=1", "must look like Method=weight")
        ])
    func errors(text: String, fragment: String) {
        #expect {
            _ = try CallMix.parse(text)
        } throws: { error in
            (error as? CallMixError)?.message.contains(fragment) == true
        }
    }

    @Test("draws map onto slots by cumulative weight, boundaries exact")
    func slotBoundaries() throws {
        let mix = try CallMix.parse("GetAccount=3,GetTestStatus=1,Health=6")
        #expect((0..<3).map(mix.slot(forDraw:)) == [0, 0, 0])
        #expect(mix.slot(forDraw: 3) == 1)
        #expect((4..<10).map(mix.slot(forDraw:)) == [2, 2, 2, 2, 2, 2])
    }

    @Test("weighted choice follows the weights (seeded generator)")
    func distribution() throws {
        let mix = try CallMix.parse("GetAccount=80,PlaceOnTest=5,PlaceOffTest=5,RequestTestData=10")
        var generator = SplitMix64(seed: 42)
        var counts = [Int](repeating: 0, count: mix.entries.count)
        let draws = 200_000
        for _ in 0..<draws { counts[mix.chooseSlot(using: &generator)] += 1 }
        for (slot, entry) in mix.entries.enumerated() {
            let expected = Double(draws) * Double(entry.weight) / Double(mix.totalWeight)
            // Within 4 standard deviations of a binomial count.
            let p = Double(entry.weight) / Double(mix.totalWeight)
            let sigma = (Double(draws) * p * (1 - p)).squareRoot()
            #expect(abs(Double(counts[slot]) - expected) < 4 * sigma, "\(entry.method): \(counts[slot]) vs \(expected)")
        }
        // Deterministic: the same seed draws the same sequence.
        var first = SplitMix64(seed: 7), second = SplitMix64(seed: 7)
        let a = (0..<100).map { _ in mix.chooseSlot(using: &first) }
        let b = (0..<100).map { _ in mix.chooseSlot(using: &second) }
        #expect(a == b)
    }

    @Test("only PlaceOnTest and PlaceOffTest expect FAILED_PRECONDITION")
    func expectedStatuses() {
        for method in LoadMethod.allCases {
            #expect(method.expectedStatuses == ([.placeOnTest, .placeOffTest].contains(method) ? [.failedPrecondition] : []))
        }
    }
}
