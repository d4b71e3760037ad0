package conform

import (
	"context"
	"strings"
	"sync"
)

var (
	casesOnce sync.Once
	allCases  []Case
)

// Cases returns every case of the suite in Autobahn order: groups 1-7, 9,
// 10, 12 and 13. Cases marked Slow only run with Options.Slow.
func Cases() []Case {
	casesOnce.Do(func() {
		for _, g := range [][]Case{
			framingCases(),
			pingCases(),
			reservedBitCases(),
			opcodeCases(),
			fragmentationCases(),
			utf8Cases(),
			closeCases(),
			limitCases(),
			autoFragmentationCases(),
			compressionCases(),
		} {
			allCases = append(allCases, g...)
		}
	})
	return append([]Case(nil), allCases...)
}

// script turns a case script into a Case.Run function: open a connection
// (offering permessage-deflate if offers are given), run the script on it,
// wait for the connection to end and judge.
func script(fn func(s *session), offers ...DeflateOffer) func(context.Context, *Target) Result {
	return func(ctx context.Context, t *Target) Result {
		s, err := t.open(ctx, offers...)
		if err != nil {
			return openFailed(err)
		}
		fn(s)
		return s.finish()
	}
}

// newCase builds a Case; the group is the first component of the ID.
func newCase(id, description, expectation string, run func(s *session)) Case {
	return Case{
		ID:          id,
		Group:       groupOf(id),
		Description: description,
		Expectation: expectation,
		Run:         script(run),
	}
}

// Close expectations used throughout.
var (
	// normalClose: the client closes with 1000 once it got what it
	// expected; the server answers and drops TCP.
	normalClose = closeExpectation{closedByMe: true, codes: []int{closeNormal}, requireClean: true}
	// serverFailsProtocol: the server fails the connection (1002).
	serverFailsProtocol = closeExpectation{closedByMe: false, codes: []int{closeProtocolError}}
	// serverFailsUTF8: the server fails the connection (1007) on invalid
	// UTF-8; if it does not, it did not notice and the case fails.
	serverFailsUTF8 = closeExpectation{closedByMe: false, codes: []int{closeInvalidPayload}, wrongEndpointFatal: true}
)

// rep repeats s n times.
func rep(s string, n int) []byte { return []byte(strings.Repeat(s, n)) }
