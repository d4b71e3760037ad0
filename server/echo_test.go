package server_test

import (
	"bytes"
	"testing"

	"github.com/gorilla/websocket"
)

func TestEchoTextAndBinary(t *testing.T) {
	url := start(t, echoServer())
	conn := dial(t, url)
	for _, tc := range []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("hello, wsloop ✓")},
		{websocket.BinaryMessage, []byte{0, 1, 2, 255}},
		{websocket.TextMessage, []byte("")},
		{websocket.BinaryMessage, bytes.Repeat([]byte{7}, 125)},
		{websocket.BinaryMessage, bytes.Repeat([]byte{8}, 126)},
		{websocket.BinaryMessage, bytes.Repeat([]byte{9}, 65535)},
		{websocket.BinaryMessage, bytes.Repeat([]byte{10}, 65536)},
		{websocket.TextMessage, bytes.Repeat([]byte("é"), 1<<20)},
	} {
		if err := conn.WriteMessage(tc.typ, tc.data); err != nil {
			t.Fatal(err)
		}
		typ, got, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("%d bytes: %v", len(tc.data), err)
		}
		if typ != tc.typ || !bytes.Equal(got, tc.data) {
			t.Fatalf("echo of %d bytes type %d: got %d bytes type %d", len(tc.data), tc.typ, len(got), typ)
		}
	}
}
