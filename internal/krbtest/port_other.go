//go:build !linux

package krbtest

import (
	"fmt"
	"net"
	"os/exec"
)

// reservation names a loopback port that was free for both TCP and UDP.
// Without Linux's SO_REUSEPORT semantics to hold it for the KDC, it is
// released at once; Start retries when the KDC then cannot bind it.
type reservation struct {
	port int
}

// reservePort finds a port free for both TCP and UDP on 127.0.0.1.
func reservePort() (*reservation, error) {
	var lastErr error
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			lastErr = err
			continue
		}
		u.Close()
		return &reservation{port: port}, nil
	}
	return nil, fmt.Errorf("no port free for both TCP and UDP on 127.0.0.1: %w", lastErr)
}

// release does nothing: the port was never held.
func (r *reservation) release() {}

// setProcAttr does nothing where a child cannot be tied to its parent.
func setProcAttr(cmd *exec.Cmd) {}
