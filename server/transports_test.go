package server_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// transportTests are the behavioural tests that TestTransports runs again
// in every mode (see testMode): protocol, handshake, lifecycle, limits and
// protections, compression, rooms. Tests about the process as a whole
// (descriptors, memory, goroutines, the soak) run in the default mode only.
var transportTests = strings.Join([]string{
	"TestEchoTextAndBinary",
	"TestProtocolViolationsGetTheirCloseCode", "TestTooBigRefusedOnHeader", "TestInvalidUTF8FailsFast",
	"TestPingIsAnsweredWithPong", "TestFragmentedMessageWithPingInside", "TestFramesSplitAcrossReads",
	"TestClientCloseIsEchoed", "TestServerInitiatedClose", "TestUnansweredCloseTimesOut",
	"TestFramesPipelinedWithHandshake",
	"TestBadHandshakesGetAnHTTPStatus", "TestAuthenticateSeesTheRequestAndCanRefuse",
	"TestDenyAndAllowNewConnections", "TestHandlerServesPlainHTTP",
	"TestCallbackOrderPerClient", "TestPanicInCallbackClosesOnlyThatClient",
	"TestInteropWithCoderWebsocket", "TestBroadcastReachesEveryClientOnce",
	"TestSlowConsumerIsDisconnected", "TestStalledHalfFrameDoesNotBlockOthers",
	"TestSlowlorisFramesAreTimedOut", "TestSlowlorisHandshakesAreTimedOut",
	"TestSlowConsumerBackpressure", "TestGarbageGetsDefinedAnswers",
	"TestSilentClientsArePingedAndDropped", "TestOriginCheck",
	"TestCompressionIsNegotiatedOnlyWhenOn", "TestCompressionThreshold",
	"TestDecompressionBombIsRefused", "TestCompressedMessageErrors",
	"TestPublishReachesOnlyTheRoomsMembers", "TestLeavingAndDisconnectingEmptiesRooms",
	"TestRoomMembershipChurn", "TestRequestIsThereDuringOnNewClient",
	"TestBlockingAuthenticateHoldsNoWorker", "TestForwardedForOnlyFromTrustedProxies",
	"TestStatsCountTraffic", "TestStatsCountTimeouts",
}, "|")

// TestTransports runs the behavioural tests again over each other way a
// client can reach the server: the goroutine path of systems without a
// poller, wss:// on the server's own TLS, PROXY protocol headers, and the
// server mounted on an http.Server. Each mode runs in a subprocess of this
// test binary.
func TestTransports(t *testing.T) {
	if testMode != "" {
		t.Skip("runs the other modes from the default one")
	}
	if testing.Short() {
		t.Skip("runs the suite four more times")
	}
	for _, mode := range []string{"goroutines", "tls", "proxy", "http"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^("+transportTests+")$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "WSLOOP_TEST_MODE="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("mode %s: %v\n%s", mode, err, out)
			}
			passed := len(regexp.MustCompile(`(?m)^--- PASS: Test\w+`).FindAll(out, -1))
			skipped := regexp.MustCompile(`(?m)^--- SKIP: Test\w+`).FindAll(out, -1)
			t.Logf("mode %s: %d tests passed, %d skipped", mode, passed, len(skipped))
			for _, s := range skipped {
				t.Logf("  %s", s)
			}
			if want := strings.Count(transportTests, "|") + 1 - len(skipped); passed < want {
				t.Fatalf("mode %s: only %d tests passed, want %d:\n%s", mode, passed, want, out)
			}
		})
	}
}
