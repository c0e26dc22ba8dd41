import CopsLinkAccounts
import CopsLinkCore
import CopsLinkMessages
import CopsLinkSQLite
import CopsLinkServices
import Testing

/// Concurrent mutations of one account: the rules hold against the state each one changes.
@Suite("Concurrent calls")
struct ConcurrencyTests {
    @Test(arguments: StoreKind.all, [2, 10])
    func concurrentPlaceOnTestExactlyOneWins(_ kind: StoreKind, callers: Int) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let outcomes = await withTaskGroup(of: Result<PlaceOnTestResponse, RPCError>.self) { group in
                for index in 0..<callers {
                    group.addTask {
                        do {
                            return .success(
                                try await fixture.client.placeOnTest(
                                    PlaceOnTestRequest(
                                        requestID: newRequestID(), customerID: "cust-1", categoryID: "service",
                                        durationHours: UInt32(1 + index % 3))))
                        } catch let error as RPCError {
                            return .failure(error)
                        } catch {
                            return .failure(RPCError(code: .unknown, message: "\(error)"))
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.compactMap { try? $0.get().session }
            let losers = outcomes.compactMap { outcome -> RPCError? in
                if case .failure(let error) = outcome { return error }
                return nil
            }
            try #require(winners.count == 1, "exactly one placement succeeds: \(outcomes)")
            #expect(losers.count == callers - 1)
            #expect(losers.allSatisfy { $0.code == .failedPrecondition && $0.message == "System is currently on test." }, "\(losers)")
            #expect(try await fixture.openSession()?.id == winners[0].id)
            let history = try await fixture.history()
            #expect(history.filter { $0.action == .placedOnTest }.map(\.sessionID) == [winners[0].id])
        }
    }

    @Test(arguments: StoreKind.all) func concurrentRetriesWithOneRequestIDAllGetTheFirstAnswer(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            try await linkProvoCustomer(fixture)
            let request = PlaceOnTestRequest(requestID: newRequestID(), customerID: "cust-1", categoryID: "service", durationHours: 1)
            let answers = try await withThrowingTaskGroup(of: PlaceOnTestResponse.self) { group in
                for _ in 0..<8 { group.addTask { try await fixture.client.placeOnTest(request) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(answers).count == 1, "every retry gets the same session")
            #expect(try await fixture.history().map(\.action) == [.placedOnTest])
        }
    }

    @Test(arguments: StoreKind.all) func concurrentAddsOfTwoPoliceAuthoritiesExactlyOneWins(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let customers = (1...5).map { "cust-\($0)" }
            for id in customers { try await linkProvoCustomer(fixture, id) }
            let outcomes = await withTaskGroup(of: (String, String, RPCError?).self) { group in
                for customer in customers {
                    for police in [
                        AuthorityToAdd(authorityID: "ut-provo-pd", permitNumber: "PD-1"), AuthorityToAdd(authorityID: "ut-utah-county-so")
                    ] {
                        group.addTask {
                            do {
                                _ = try await fixture.client.addAccountAuthorities(
                                    AddAccountAuthoritiesRequest(customerID: customer, authorities: [police]))
                                return (customer, police.authorityID, nil)
                            } catch let error as RPCError {
                                return (customer, police.authorityID, error)
                            } catch {
                                return (customer, police.authorityID, RPCError(code: .unknown, message: "\(error)"))
                            }
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for customer in customers {
                let mine = outcomes.filter { $0.0 == customer }
                let winners = mine.filter { $0.2 == nil }.map(\.1)
                let losers = mine.compactMap(\.2)
                #expect(winners.count == 1, "\(customer): \(mine)")
                #expect(losers.count == 1 && losers[0].code == .alreadyExists, "\(customer): \(losers)")
                #expect(losers.first?.message.hasPrefix("The account already has a police authority") == true)
                let listed = try await fixture.client.getAccount(GetAccountRequest(customerID: customer)).authorities
                #expect(listed.compactMap { $0.authority?.id } == winners, "\(customer)")
            }
        }
    }

    @Test(arguments: StoreKind.all) func readsSucceedWhileMutationsRun(_ kind: StoreKind) async throws {
        try await withAccountService(on: kind) { fixture in
            let account = try await linkProvoCustomer(fixture)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for round in 0..<10 {
                        try await fixture.placeOnTest(hours: 1)
                        _ = try await fixture.client.placeOffTest(PlaceOffTestRequest(customerID: "cust-1"))
                        let added = try await fixture.client.addAccountAuthorities(
                            AddAccountAuthoritiesRequest(
                                customerID: "cust-1", authorities: [AuthorityToAdd(authorityID: "ut-provo-fd")])
                        ).added
                        _ = try await fixture.client.removeAccountAuthority(
                            RemoveAccountAuthorityRequest(
                                customerID: "cust-1", accountAuthorityID: added[0].id))
                        _ = try await fixture.client.setCentralStationZones(
                            SetCentralStationZonesRequest(
                                customerID: "cust-1", zones: [Zone(zoneNumber: zoneNumber(round + 1), description: "Zone \(round)")]))
                    }
                }
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<25 {
                            let read = try await fixture.client.getAccount(GetAccountRequest(customerID: "cust-1"))
                            #expect(read.accountNumber == account.accountNumber)
                            #expect(read.linkState == .linked)
                            #expect(read.authorities.count <= 1)
                            #expect(read.mappedZones.count + read.unmappedZones.count <= 1)
                            if let status = read.testStatus, status.onTest { #expect(status.current?.state == .active) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(
                try await fixture.history().map(\.action) == Array(repeating: [.placedOnTest, .placedOffTest], count: 10).flatMap { $0 })
        }
    }
}
