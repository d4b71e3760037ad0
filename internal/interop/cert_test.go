package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testCert is the self-signed certificate the wss:// runs serve, made once
// per test process (never a file in the repository), and the ways each
// client is told to trust it.
type testCert struct {
	cert   tls.Certificate
	client *tls.Config // the Go clients: a pool with the certificate
	pem    []byte      // Node (ca) and Python (cafile): the certificate as PEM
	spki   string      // Chromium: base64 of the SHA-256 of its public key
}

var (
	certOnce sync.Once
	certVal  *testCert
	certErr  error
)

// certificate returns the test certificate, for 127.0.0.1 and localhost.
func certificate(t testing.TB) *testCert {
	t.Helper()
	certOnce.Do(func() { certVal, certErr = makeCert() })
	if certErr != nil {
		t.Fatalf("make the test certificate: %v", certErr)
	}
	return certVal
}

func makeCert() (*testCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wsloop interop test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return &testCert{
		cert:   tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		client: &tls.Config{RootCAs: pool},
		pem:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		spki:   base64.StdEncoding.EncodeToString(sum[:]),
	}, nil
}

// pemFile writes the certificate as PEM into the test's directory and
// returns the file's path.
func (c *testCert) pemFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, c.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
