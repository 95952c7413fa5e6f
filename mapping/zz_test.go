package mapping
import ("testing";"os")
func TestZZ(t *testing.T){
 p:=t.TempDir()+"/m.yaml"
 os.WriteFile(p,[]byte("constants:\n  datas.zip: 08001\n  datas.a: 0x1F\n  datas.b: 1e3\n  datas.c: 1.50\n  datas.d: 0o17\n  datas.e: 017\n  datas.f: 2024-01-02\n  datas.g: 600112233\n  datas.h: 0034600\ncolumns:\n  A: {to: assertions.x, map: {01: \"true\", Yes: \"false\"}}\n"),0o600)
 f,err:=Load(p); if err!=nil {t.Log(err); return}; t.Logf("%q %q\n",f.Constants, f.Columns["A"].Map)
}
