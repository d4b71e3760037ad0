package server

// A transport is a client's byte stream when it is not a plain socket
// descriptor read and written by the workers directly: a TLS session over
// such a descriptor, or a net.Conn driven by goroutines where the platform
// or the connection offers no descriptor. Its methods never block; they are
// called only by the worker that has the client scheduled, so a transport
// needs no lock of its own against them.
//
// A transport that has more bytes for read, or room for writev after it
// refused bytes, says so by scheduling the client (needRead, needFlush) the
// way the poller does for a descriptor.
type transport interface {
	// read reads into p. It returns n == 0 and a nil error at the end of
	// the stream, errWouldBlock when nothing is there yet, and any other
	// error when the connection failed.
	read(p []byte) (int, error)
	// writev takes a prefix of bufs and returns its length, or
	// errWouldBlock when it can take nothing now. The bytes are copied or
	// written before it returns: bufs may change afterwards.
	writev(bufs [][]byte) (int, error)
	// shutdownWrite ends the stream of output after what was written.
	shutdownWrite()
	// close releases the connection; the transport calls no one afterwards.
	close()
}

// The I/O of a client goes to its transport if it has one, else straight
// to its descriptor.

func (c *Client) read(p []byte) (int, error) {
	if c.tr != nil {
		return c.tr.read(p)
	}
	return readFD(int(c.fd), p)
}

func (c *Client) writev(bufs [][]byte) (int, error) {
	if c.tr != nil {
		return c.tr.writev(bufs)
	}
	return writevFD(int(c.fd), bufs)
}

func (c *Client) shutdownWrite() {
	if c.tr != nil {
		c.tr.shutdownWrite()
		return
	}
	shutdownWriteFD(int(c.fd))
}

func (c *Client) closeConn() {
	if c.tr != nil {
		c.tr.close()
		return
	}
	closeFD(int(c.fd))
}
