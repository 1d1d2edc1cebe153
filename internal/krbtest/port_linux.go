package krbtest

import (
	"fmt"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// reservation holds a loopback port for the KDC, for both TCP and UDP.
//
// krb5kdc binds its sockets with SO_REUSEPORT, so two KDCs of the same
// user can share a port without an error, and a probe that finds a port
// free and closes it leaves a window in which another test's KDC may
// take it too. The reservation closes that window: its sockets are bound
// (not listening, so they take no connection) with SO_REUSEPORT, which
// lets this realm's KDC bind the port beside them while they keep it from
// everyone else: the kernel's choice of a port for bind(0) avoids a port
// in use even by SO_REUSEPORT sockets. They are released once the KDC
// answers.
type reservation struct {
	port int
	fds  []int
	once sync.Once
}

// reservePort reserves a port the kernel picks for TCP and that is free
// for UDP too, retrying when it is not.
func reservePort() (*reservation, error) {
	var lastErr error
	for range 50 {
		tcp, port, err := boundSocket(syscall.SOCK_STREAM, 0)
		if err != nil {
			return nil, err
		}
		udp, _, err := boundSocket(syscall.SOCK_DGRAM, port)
		if err != nil {
			syscall.Close(tcp)
			lastErr = err
			continue
		}
		return &reservation{port: port, fds: []int{tcp, udp}}, nil
	}
	return nil, fmt.Errorf("no port free for both TCP and UDP on 127.0.0.1: %w", lastErr)
}

// boundSocket returns a socket of type typ bound to 127.0.0.1:port with
// SO_REUSEPORT, and the port it is bound to.
func boundSocket(typ, port int) (int, int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		syscall.Close(fd)
		return -1, 0, fmt.Errorf("setsockopt SO_REUSEPORT: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return -1, 0, fmt.Errorf("bind 127.0.0.1:%d: %w", port, err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return -1, 0, fmt.Errorf("getsockname: %w", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		syscall.Close(fd)
		return -1, 0, fmt.Errorf("getsockname: unexpected address %T", sa)
	}
	return fd, in4.Port, nil
}

// release closes the reservation's sockets; it may be called more than
// once.
func (r *reservation) release() {
	r.once.Do(func() {
		for _, fd := range r.fds {
			syscall.Close(fd)
		}
	})
}

// setProcAttr makes the KDC die with the test binary if the binary is
// killed before its cleanups run.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
