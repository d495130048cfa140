//go:build !linux

package etcdproc

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
