package host

import (
	"io/fs"
	"syscall"
)

type statInfo struct {
	ino   uint64
	ctime int64
}

func statT(fi fs.FileInfo) (statInfo, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return statInfo{}, false
	}
	return statInfo{ino: st.Ino, ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec}, true
}
