package etcdproc

import "syscall"

// procAttr kills a member when the test process dies (a test timeout, a
// crash), so no etcd outlives its test holding ports and CPU.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
