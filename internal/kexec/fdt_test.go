package kexec

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readDTB(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// realDTBs are device trees arm64 kernels booted with: QEMU's virt machine
// (-M virt,dumpdtb=, written back compact by Bytes, which dtc decompiles
// to the same source) and what the arm64 VM guest's kernel shows in
// /sys/firmware/fdt (its kaslr-seed zeroed, its rng-seed blanked with NOPs).
var realDTBs = []string{"qemu-virt.dtb", "guest-trixie-arm64.dtb.gz"}

func TestFDTRoundTrip(t *testing.T) {
	for _, name := range realDTBs {
		t.Run(name, func(t *testing.T) {
			b := readDTB(t, name)
			f, err := ParseFDT(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.Root.Child("chosen") == nil || f.Root.Child("memory@40000000") == nil {
				t.Fatalf("no /chosen or /memory@40000000 among %d nodes", len(f.Root.Children))
			}
			out := f.Bytes()
			g, err := ParseFDT(out)
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			if !reflect.DeepEqual(f, g) {
				t.Fatal("the tree read back from Bytes differs")
			}
			if again := g.Bytes(); !bytes.Equal(again, out) {
				t.Fatal("Bytes is not a fixed point")
			}
		})
	}
}

// TestParseFDTNop: a property the kernel blanked in place (fdt_nop_property
// writes NOP tokens over it) is skipped.
func TestParseFDTNop(t *testing.T) {
	f := &FDT{Root: &FDTNode{Children: []*FDTNode{{Name: "chosen", Props: []FDTProp{{"a", []byte{1}}, {"rng-seed", make([]byte, 32)}, {"b", []byte{2}}}}}}}
	b := f.Bytes()
	// Blank rng-seed: its 3 header words and 8 value words.
	at := bytes.Index(b, append(binary.BigEndian.AppendUint32(nil, fdtProp), binary.BigEndian.AppendUint32(nil, 32)...))
	if at < 0 {
		t.Fatal("rng-seed not found")
	}
	for i := 0; i < 3+8; i++ {
		binary.BigEndian.PutUint32(b[at+4*i:], fdtNop)
	}
	g, err := ParseFDT(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []FDTProp{{"a", []byte{1}}, {"b", []byte{2}}}
	if got := g.Root.Child("chosen").Props; !reflect.DeepEqual(got, want) {
		t.Fatalf("props %v, want %v", got, want)
	}
}

func TestParseFDTErrors(t *testing.T) {
	good := readDTB(t, "qemu-virt.dtb")
	be := binary.BigEndian
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	offStruct := be.Uint32(good[8:])
	tests := []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"short_header", good[:39]},
		{"bad_magic", mod(func(b []byte) []byte { b[0] = 0; return b })},
		{"truncated", good[:len(good)-100]},
		{"old_version", mod(func(b []byte) []byte { be.PutUint32(b[20:], 15); return b })},
		{"struct_outside", mod(func(b []byte) []byte { be.PutUint32(b[36:], 1<<20); return b })},
		{"no_begin_node", mod(func(b []byte) []byte { be.PutUint32(b[offStruct:], fdtEndNode); return b })},
		{"bad_token", mod(func(b []byte) []byte { be.PutUint32(b[offStruct+8:], 7); return b })},
		{"rsvmap_unterminated", mod(func(b []byte) []byte {
			for i := 40; i < int(offStruct); i++ {
				b[i] = 0xff
			}
			return b
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseFDT(tt.blob); !errors.Is(err, ErrBadFDT) {
				t.Fatalf("err %v, want ErrBadFDT", err)
			}
		})
	}
}

func TestSetChosen(t *testing.T) {
	fill := func(b []byte) error {
		for i := range b {
			b[i] = 0xA5
		}
		return nil
	}
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	tests := []struct {
		name      string
		props     []FDTProp // of /chosen; nil: no /chosen
		chosen    Chosen
		want      []FDTProp
		wantError bool
	}{
		{
			name: "qemu_chosen",
			props: []FDTProp{{"linux,initrd-end", []byte{0x48, 0x0f, 0x42, 0x40}}, {"linux,initrd-start", []byte{0x48, 0, 0, 0}},
				{"bootargs", []byte("root=/dev/vda\x00")}, {"stdout-path", []byte("/pl011@9000000\x00")},
				{"rng-seed", make([]byte, 32)}, {"kaslr-seed", make([]byte, 8)}},
			chosen: Chosen{Bootargs: "root=/dev/vda kexec_upgrade.attempt=x", Initrd: Range{0x44000000, 0x44100000}, Seed: fill},
			want: []FDTProp{{"linux,initrd-end", u64(0x44100000)}, {"linux,initrd-start", u64(0x44000000)},
				{"bootargs", []byte("root=/dev/vda kexec_upgrade.attempt=x\x00")}, {"stdout-path", []byte("/pl011@9000000\x00")},
				{"rng-seed", bytes.Repeat([]byte{0xA5}, 32)}, {"kaslr-seed", bytes.Repeat([]byte{0xA5}, 8)}},
		},
		{
			name:   "crash_properties_dropped_no_initrd",
			props:  []FDTProp{{"linux,elfcorehdr", u64(1)}, {"linux,usable-memory-range", u64(2)}, {"linux,initrd-start", u64(3)}, {"linux,initrd-end", u64(4)}},
			chosen: Chosen{Bootargs: "quiet"},
			want:   []FDTProp{{"bootargs", []byte("quiet\x00")}},
		},
		{
			name:   "no_chosen",
			chosen: Chosen{Bootargs: "a", Initrd: Range{0x1000, 0x2000}},
			want:   []FDTProp{{"bootargs", []byte("a\x00")}, {"linux,initrd-start", u64(0x1000)}, {"linux,initrd-end", u64(0x2000)}},
		},
		{name: "nul_in_cmdline", props: []FDTProp{}, chosen: Chosen{Bootargs: "a\x00b"}, wantError: true},
		{name: "seed_without_source", props: []FDTProp{{"kaslr-seed", make([]byte, 8)}}, chosen: Chosen{Bootargs: "a"}, wantError: true},
		{name: "seed_source_fails", props: []FDTProp{{"rng-seed", make([]byte, 8)}}, chosen: Chosen{Bootargs: "a", Seed: func([]byte) error { return errors.New("no entropy") }}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &FDT{Root: &FDTNode{}}
			if tt.props != nil {
				f.Root.Children = append(f.Root.Children, &FDTNode{Name: "chosen", Props: tt.props})
			}
			err := f.SetChosen(tt.chosen)
			if tt.wantError {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Root.Child("chosen").Props; !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("/chosen\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestReservedMemory(t *testing.T) {
	reg := func(cells ...uint32) []byte {
		var b []byte
		for _, c := range cells {
			b = binary.BigEndian.AppendUint32(b, c)
		}
		return b
	}
	tests := []struct {
		name    string
		rm      *FDTNode
		want    []Range
		wantErr bool
	}{
		{"none", nil, []Range{{0x100000, 0x200000}}, false},
		{"two_cells_each", &FDTNode{Name: "reserved-memory", Props: []FDTProp{{"#address-cells", reg(2)}, {"#size-cells", reg(2)}},
			Children: []*FDTNode{{Name: "tf@1", Props: []FDTProp{{"reg", reg(0, 0x7e000000, 0, 0x100000)}}}, {Name: "cma", Props: []FDTProp{{"size", reg(0, 0x1000000)}}}}},
			[]Range{{0x100000, 0x200000}, {0x7e000000, 0x7e100000}}, false},
		{"one_cell_two_entries", &FDTNode{Name: "reserved-memory", Props: []FDTProp{{"#address-cells", reg(1)}, {"#size-cells", reg(1)}},
			Children: []*FDTNode{{Name: "x", Props: []FDTProp{{"reg", reg(0x1000, 0x1000, 0x5000, 0x2000)}}}}},
			[]Range{{0x100000, 0x200000}, {0x1000, 0x2000}, {0x5000, 0x7000}}, false},
		{"ragged_reg", &FDTNode{Name: "reserved-memory", Props: []FDTProp{{"#address-cells", reg(2)}, {"#size-cells", reg(2)}},
			Children: []*FDTNode{{Name: "x", Props: []FDTProp{{"reg", reg(1, 2, 3)}}}}}, nil, true},
		{"three_address_cells", &FDTNode{Name: "reserved-memory", Props: []FDTProp{{"#address-cells", reg(3)}}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &FDT{Reserved: []Range{{0x100000, 0x200000}}, Root: &FDTNode{}}
			if tt.rm != nil {
				f.Root.Children = []*FDTNode{tt.rm}
			}
			got, err := f.ReservedMemory()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzParseFDT: any input parses or fails with ErrBadFDT, never panics; a
// tree that parses writes a blob that reads back to the same tree, and
// writing that is a fixed point.
func FuzzParseFDT(f *testing.F) {
	for _, name := range realDTBs {
		f.Add(readDTB(f, name))
	}
	f.Add((&FDT{Root: &FDTNode{}}).Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, err := ParseFDT(b)
		if err != nil {
			if !errors.Is(err, ErrBadFDT) {
				t.Fatalf("error %v does not wrap ErrBadFDT", err)
			}
			return
		}
		out := tree.Bytes()
		back, err := ParseFDT(out)
		if err != nil {
			t.Fatalf("reparse of Bytes: %v", err)
		}
		if !reflect.DeepEqual(normalize(tree), normalize(back)) {
			t.Fatal("tree changed through Bytes")
		}
		if !bytes.Equal(back.Bytes(), out) {
			t.Fatal("Bytes is not a fixed point")
		}
	})
}

// normalize makes empty property values comparable ([]byte{} vs nil).
func normalize(f *FDT) *FDT {
	var walk func(n *FDTNode)
	walk = func(n *FDTNode) {
		for i := range n.Props {
			if len(n.Props[i].Value) == 0 {
				n.Props[i].Value = nil
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(f.Root)
	return f
}

func TestFDTMemory(t *testing.T) {
	f, err := ParseFDT(readDTB(t, "qemu-virt.dtb"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Memory()
	if err != nil || !reflect.DeepEqual(got, []Range{{0x40000000, 0x80000000}}) {
		t.Fatalf("Memory() = %v, %v; want 0x40000000-0x7fffffff", got, err)
	}
	f.Root.Child("chosen").SetProp("linux,uefi-system-table", make([]byte, 8))
	if _, err := f.Memory(); err == nil || !strings.Contains(err.Error(), "UEFI") {
		t.Fatalf("Memory() of a UEFI device tree: %v; want a refusal naming UEFI", err)
	}
	empty := &FDT{Root: &FDTNode{}}
	if _, err := empty.Memory(); !errors.Is(err, ErrBadFDT) {
		t.Fatalf("Memory() without memory nodes: %v; want ErrBadFDT", err)
	}
}
