//go:build !linux && !darwin && !freebsd

package poller

// Poller is not available on this system; New returns ErrUnsupported.
type Poller struct{}

// New returns ErrUnsupported: this system has neither epoll nor kqueue.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported.
func (p *Poller) Add(fd int) error { return ErrUnsupported }

// Remove returns ErrUnsupported.
func (p *Poller) Remove(fd int) error { return ErrUnsupported }

// Wait returns ErrUnsupported.
func (p *Poller) Wait(fn func(fd int, ev Event)) error { return ErrUnsupported }

// Close returns ErrUnsupported.
func (p *Poller) Close() error { return ErrUnsupported }
