package kexec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrBadFDT: a flattened device tree (/sys/firmware/fdt) that is not
// well formed, so no device tree can be handed to the new kernel.
var ErrBadFDT = errors.New("malformed flattened device tree")

// Flattened device tree format (devicetree specification, chapter 5).
const (
	fdtMagic      = 0xd00dfeed
	fdtHeaderSize = 40
	fdtBeginNode  = 1
	fdtEndNode    = 2
	fdtProp       = 3
	fdtNop        = 4
	fdtEnd        = 9
	// fdtVersion is the version Write writes, and the oldest it reads
	// (16 and 17 share the structure block's layout).
	fdtVersion     = 17
	fdtLastCompat  = 16
	fdtMinVersion  = 16
	fdtMaxDepth    = 64
	fdtMaxSize     = 2 << 20 // arm64 booting.rst: the dtb must not exceed 2 MB
	fdtRsvEntrySz  = 16
	fdtMaxRsvEntry = 1024
)

// FDT is a parsed flattened device tree: the memory reservation block,
// the boot CPU and the node tree, in the order of the blob.
type FDT struct {
	// Reserved are the /memreserve/ entries: memory the next kernel must
	// not use.
	Reserved []Range
	// BootCPU is boot_cpuid_phys of the header.
	BootCPU uint32
	// Root is the root node ("").
	Root *FDTNode
}

// FDTNode is a node of the tree.
type FDTNode struct {
	Name     string
	Props    []FDTProp
	Children []*FDTNode
}

// FDTProp is a property: its name and raw value.
type FDTProp struct {
	Name  string
	Value []byte
}

// Range is a physical address range [Start, End).
type Range struct{ Start, End uint64 }

// Size is End-Start.
func (r Range) Size() uint64 { return r.End - r.Start }

// ParseFDT reads a flattened device tree blob (version 16 or 17). NOP
// tokens (a property the kernel blanked in place, such as a used
// rng-seed) are skipped. Everything is bounds-checked: a malformed blob
// is an error wrapping ErrBadFDT, never a panic.
func ParseFDT(b []byte) (*FDT, error) {
	if len(b) < fdtHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrBadFDT, len(b))
	}
	be := binary.BigEndian
	hdr := func(i int) uint32 { return be.Uint32(b[4*i:]) }
	if hdr(0) != fdtMagic {
		return nil, fmt.Errorf("%w: magic 0x%08x, want 0x%08x", ErrBadFDT, hdr(0), uint32(fdtMagic))
	}
	total, offStruct, offStrings, offRsv, version := hdr(1), hdr(2), hdr(3), hdr(4), hdr(5)
	sizeStrings, sizeStruct := hdr(8), hdr(9)
	if int64(total) > int64(len(b)) || total > fdtMaxSize {
		return nil, fmt.Errorf("%w: totalsize %d, blob %d bytes (at most %d)", ErrBadFDT, total, len(b), fdtMaxSize)
	}
	if version < fdtMinVersion {
		return nil, fmt.Errorf("%w: version %d, want at least %d", ErrBadFDT, version, fdtMinVersion)
	}
	within := func(off, size uint32) bool { return uint64(off)+uint64(size) <= uint64(total) && off >= fdtHeaderSize }
	if !within(offStruct, sizeStruct) || !within(offStrings, sizeStrings) || !within(offRsv, 0) {
		return nil, fmt.Errorf("%w: blocks outside totalsize %d (struct %d+%d, strings %d+%d, rsvmap %d)", ErrBadFDT, total, offStruct, sizeStruct, offStrings, sizeStrings, offRsv)
	}
	f := &FDT{BootCPU: hdr(7)}
	for off, n := uint64(offRsv), 0; ; off, n = off+fdtRsvEntrySz, n+1 {
		if off+fdtRsvEntrySz > uint64(total) || n > fdtMaxRsvEntry {
			return nil, fmt.Errorf("%w: memory reservation block not terminated", ErrBadFDT)
		}
		addr, size := be.Uint64(b[off:]), be.Uint64(b[off+8:])
		if addr == 0 && size == 0 {
			break
		}
		if addr+size < addr {
			return nil, fmt.Errorf("%w: reservation 0x%x+0x%x overflows", ErrBadFDT, addr, size)
		}
		f.Reserved = append(f.Reserved, Range{addr, addr + size})
	}
	s := b[offStruct : offStruct+sizeStruct]
	strs := b[offStrings : offStrings+sizeStrings]
	p := &fdtParser{s: s, strs: strs}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	f.Root = root
	return f, nil
}

type fdtParser struct {
	s, strs []byte
	off     int
}

func (p *fdtParser) u32() (uint32, error) {
	if p.off+4 > len(p.s) {
		return 0, fmt.Errorf("%w: structure block ends at %d inside a token", ErrBadFDT, len(p.s))
	}
	v := binary.BigEndian.Uint32(p.s[p.off:])
	p.off += 4
	return v, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// token returns the next token that is not a NOP.
func (p *fdtParser) token() (uint32, error) {
	for {
		t, err := p.u32()
		if err != nil || t != fdtNop {
			return t, err
		}
	}
}

func (p *fdtParser) parse() (*FDTNode, error) {
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	if t != fdtBeginNode {
		return nil, fmt.Errorf("%w: structure block starts with token %d, not a node", ErrBadFDT, t)
	}
	root, err := p.node(0)
	if err != nil {
		return nil, err
	}
	if root.Name != "" {
		return nil, fmt.Errorf("%w: root node named %q", ErrBadFDT, root.Name)
	}
	if t, err = p.token(); err != nil {
		return nil, err
	}
	if t != fdtEnd {
		return nil, fmt.Errorf("%w: token %d after the root node, want END", ErrBadFDT, t)
	}
	return root, nil
}

// node reads a node whose BEGIN_NODE token was just read.
func (p *fdtParser) node(depth int) (*FDTNode, error) {
	if depth > fdtMaxDepth {
		return nil, fmt.Errorf("%w: nodes nested deeper than %d", ErrBadFDT, fdtMaxDepth)
	}
	end := bytes.IndexByte(p.s[p.off:], 0)
	if end < 0 {
		return nil, fmt.Errorf("%w: unterminated node name at %d", ErrBadFDT, p.off)
	}
	n := &FDTNode{Name: string(p.s[p.off : p.off+end])}
	p.off = align4(p.off + end + 1)
	for {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		switch t {
		case fdtProp:
			size, err := p.u32()
			if err != nil {
				return nil, err
			}
			nameOff, err := p.u32()
			if err != nil {
				return nil, err
			}
			if uint64(p.off)+uint64(size) > uint64(len(p.s)) {
				return nil, fmt.Errorf("%w: property of %d bytes at %d runs past the structure block", ErrBadFDT, size, p.off)
			}
			if len(n.Children) > 0 {
				return nil, fmt.Errorf("%w: property after a subnode in %q", ErrBadFDT, n.Name)
			}
			if int64(nameOff) >= int64(len(p.strs)) {
				return nil, fmt.Errorf("%w: property name offset %d outside the strings block (%d bytes)", ErrBadFDT, nameOff, len(p.strs))
			}
			nameEnd := bytes.IndexByte(p.strs[nameOff:], 0)
			if nameEnd < 0 {
				return nil, fmt.Errorf("%w: unterminated property name at %d", ErrBadFDT, nameOff)
			}
			val := bytes.Clone(p.s[p.off : p.off+int(size)])
			if val == nil {
				val = []byte{}
			}
			n.Props = append(n.Props, FDTProp{Name: string(p.strs[nameOff : int(nameOff)+nameEnd]), Value: val})
			p.off = align4(p.off + int(size))
		case fdtBeginNode:
			c, err := p.node(depth + 1)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, c)
		case fdtEndNode:
			return n, nil
		default:
			return nil, fmt.Errorf("%w: token %d inside node %q", ErrBadFDT, t, n.Name)
		}
	}
}

// Bytes writes the tree as a version 17 blob: header, memory reservation
// block, structure block, strings block (each property name once).
func (f *FDT) Bytes() []byte {
	be := binary.BigEndian
	var st, strs bytes.Buffer
	nameOff := map[string]uint32{}
	u32 := func(v uint32) { st.Write(be.AppendUint32(nil, v)) }
	pad := func() {
		for st.Len()%4 != 0 {
			st.WriteByte(0)
		}
	}
	var walk func(n *FDTNode)
	walk = func(n *FDTNode) {
		u32(fdtBeginNode)
		st.WriteString(n.Name)
		st.WriteByte(0)
		pad()
		for _, pr := range n.Props {
			off, ok := nameOff[pr.Name]
			if !ok {
				off = uint32(strs.Len())
				nameOff[pr.Name] = off
				strs.WriteString(pr.Name)
				strs.WriteByte(0)
			}
			u32(fdtProp)
			u32(uint32(len(pr.Value)))
			u32(off)
			st.Write(pr.Value)
			pad()
		}
		for _, c := range n.Children {
			walk(c)
		}
		u32(fdtEndNode)
	}
	walk(f.Root)
	u32(fdtEnd)

	offRsv := fdtHeaderSize
	offStruct := offRsv + (len(f.Reserved)+1)*fdtRsvEntrySz
	offStrings := offStruct + st.Len()
	total := offStrings + strs.Len()
	out := make([]byte, 0, total)
	for _, v := range []uint32{fdtMagic, uint32(total), uint32(offStruct), uint32(offStrings), uint32(offRsv),
		fdtVersion, fdtLastCompat, f.BootCPU, uint32(strs.Len()), uint32(st.Len())} {
		out = be.AppendUint32(out, v)
	}
	for _, r := range f.Reserved {
		out = be.AppendUint64(out, r.Start)
		out = be.AppendUint64(out, r.Size())
	}
	out = append(out, make([]byte, fdtRsvEntrySz)...)
	out = append(out, st.Bytes()...)
	return append(out, strs.Bytes()...)
}

// Child returns the child node with this name (the full "name@unit"), or
// nil.
func (n *FDTNode) Child(name string) *FDTNode {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Prop returns the value of the property, and whether the node has it.
func (n *FDTNode) Prop(name string) ([]byte, bool) {
	for _, p := range n.Props {
		if p.Name == name {
			return p.Value, true
		}
	}
	return nil, false
}

// SetProp sets a property, replacing its value in place or appending it.
func (n *FDTNode) SetProp(name string, value []byte) {
	for i := range n.Props {
		if n.Props[i].Name == name {
			n.Props[i].Value = value
			return
		}
	}
	n.Props = append(n.Props, FDTProp{Name: name, Value: value})
}

// DeleteProp removes a property if the node has it.
func (n *FDTNode) DeleteProp(name string) {
	for i := range n.Props {
		if n.Props[i].Name == name {
			n.Props = append(n.Props[:i], n.Props[i+1:]...)
			return
		}
	}
}

// cells reads a property of one big-endian 32-bit cell, or def.
func (n *FDTNode) cells(name string, def uint32) uint32 {
	if v, ok := n.Prop(name); ok && len(v) == 4 {
		return binary.BigEndian.Uint32(v)
	}
	return def
}

// ReservedMemory returns the ranges the tree tells the next kernel to
// keep its hands off: the /memreserve/ entries and the "reg" of every
// child of /reserved-memory (with that node's #address-cells and
// #size-cells; a reg it cannot read is an error, so nothing reserved is
// overlooked).
func (f *FDT) ReservedMemory() ([]Range, error) {
	out := append([]Range(nil), f.Reserved...)
	rm := f.Root.Child("reserved-memory")
	if rm == nil {
		return out, nil
	}
	ac, sc := rm.cells("#address-cells", 2), rm.cells("#size-cells", 1)
	if ac < 1 || ac > 2 || sc > 2 {
		return nil, fmt.Errorf("%w: /reserved-memory has #address-cells %d, #size-cells %d", ErrBadFDT, ac, sc)
	}
	for _, c := range rm.Children {
		reg, ok := c.Prop("reg")
		if !ok {
			continue // allocated by the kernel at boot: not a fixed range
		}
		entry := int(4 * (ac + sc))
		if len(reg)%entry != 0 {
			return nil, fmt.Errorf("%w: /reserved-memory/%s reg of %d bytes, not a multiple of %d", ErrBadFDT, c.Name, len(reg), entry)
		}
		for i := 0; i < len(reg); i += entry {
			addr := readCells(reg[i:], ac)
			size := readCells(reg[i+int(4*ac):], sc)
			if addr+size < addr {
				return nil, fmt.Errorf("%w: /reserved-memory/%s reg 0x%x+0x%x overflows", ErrBadFDT, c.Name, addr, size)
			}
			out = append(out, Range{addr, addr + size})
		}
	}
	return out, nil
}

// Memory returns the RAM the tree describes: the "reg" ranges of the
// root's memory nodes (device_type "memory"), read with the root's
// #address-cells and #size-cells. A tree handed over by UEFI (the EFI
// stub's, with linux,uefi-system-table in /chosen) is refused: there the
// EFI memory map, not the tree, says which memory firmware keeps, so
// memory nodes cannot be trusted to leave it out.
func (f *FDT) Memory() ([]Range, error) {
	if ch := f.Root.Child("chosen"); ch != nil {
		if _, efi := ch.Prop("linux,uefi-system-table"); efi {
			return nil, fmt.Errorf("the device tree came from UEFI, whose memory map it does not carry: the memory firmware keeps is unknown")
		}
	}
	ac, sc := f.Root.cells("#address-cells", 2), f.Root.cells("#size-cells", 1)
	if ac < 1 || ac > 2 || sc < 1 || sc > 2 {
		return nil, fmt.Errorf("%w: the root has #address-cells %d, #size-cells %d", ErrBadFDT, ac, sc)
	}
	var out []Range
	for _, c := range f.Root.Children {
		if t, _ := c.Prop("device_type"); string(t) != "memory\x00" {
			continue
		}
		reg, _ := c.Prop("reg")
		entry := int(4 * (ac + sc))
		if len(reg) == 0 || len(reg)%entry != 0 {
			return nil, fmt.Errorf("%w: /%s reg of %d bytes, not a multiple of %d", ErrBadFDT, c.Name, len(reg), entry)
		}
		for i := 0; i < len(reg); i += entry {
			addr, size := readCells(reg[i:], ac), readCells(reg[i+int(4*ac):], sc)
			if size == 0 {
				continue
			}
			if addr+size < addr {
				return nil, fmt.Errorf("%w: /%s reg 0x%x+0x%x overflows", ErrBadFDT, c.Name, addr, size)
			}
			out = append(out, Range{addr, addr + size})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no memory node", ErrBadFDT)
	}
	return Subtract(out, nil), nil
}

func readCells(b []byte, n uint32) uint64 {
	var v uint64
	for i := uint32(0); i < n; i++ {
		v = v<<32 | uint64(binary.BigEndian.Uint32(b[4*i:]))
	}
	return v
}

// Chosen is what the next kernel is told through /chosen.
type Chosen struct {
	// Bootargs is the command line.
	Bootargs string
	// Initrd is where the initrd lands; empty for none.
	Initrd Range
	// Seed fills the fresh bytes of kaslr-seed and rng-seed.
	Seed func([]byte) error
}

// chosenDropped are /chosen properties of the running boot that would
// mislead the next kernel: a crash kernel's memory limits.
var chosenDropped = []string{"linux,elfcorehdr", "linux,usable-memory-range"}

// SetChosen updates /chosen (adding it if missing) for the next kernel:
// bootargs; linux,initrd-start and linux,initrd-end as 64-bit cells, or
// none without an initrd; no crash kernel properties; and kaslr-seed and
// rng-seed, when present, refilled from Seed (the running kernel zeroes
// or blanks the ones it used, and a reused seed is no seed).
func (f *FDT) SetChosen(c Chosen) error {
	if strings.IndexByte(c.Bootargs, 0) >= 0 {
		return fmt.Errorf("command line has a NUL byte")
	}
	ch := f.Root.Child("chosen")
	if ch == nil {
		ch = &FDTNode{Name: "chosen"}
		f.Root.Children = append(f.Root.Children, ch)
	}
	ch.SetProp("bootargs", append([]byte(c.Bootargs), 0))
	if c.Initrd.Size() > 0 {
		ch.SetProp("linux,initrd-start", binary.BigEndian.AppendUint64(nil, c.Initrd.Start))
		ch.SetProp("linux,initrd-end", binary.BigEndian.AppendUint64(nil, c.Initrd.End))
	} else {
		ch.DeleteProp("linux,initrd-start")
		ch.DeleteProp("linux,initrd-end")
	}
	for _, name := range chosenDropped {
		ch.DeleteProp(name)
	}
	for _, name := range []string{"kaslr-seed", "rng-seed"} {
		v, ok := ch.Prop(name)
		if !ok {
			continue
		}
		fresh := make([]byte, len(v))
		if c.Seed == nil {
			return fmt.Errorf("/chosen/%s needs fresh random bytes and no source was given", name)
		}
		if err := c.Seed(fresh); err != nil {
			return fmt.Errorf("fresh /chosen/%s: %w", name, err)
		}
		ch.SetProp(name, fresh)
	}
	return nil
}
