package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/wsloop/wsloop/server"
)

// loadTLS is the TLS configuration -tls-cert and -tls-key ask for: nil
// when neither is given, an error (never plaintext) when only one is, or
// when the files do not hold a certificate and its key.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "" || keyFile == "":
		return nil, errors.New("-tls-cert and -tls-key go together: give both files, or neither for plain ws://")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert %s -tls-key %s: %v", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// serve serves srv on ln: over TLS (https:// for the page, wss:// for the
// WebSocket, on the same port) when srv has a TLSConfig.
func serve(srv *server.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// scheme is the page's URL scheme for srv.
func scheme(srv *server.Server) string {
	if srv.TLSConfig != nil {
		return "https"
	}
	return "http"
}
