#include "hilsim/partition/packed_model.h"

#include <cstring>

#include "hilsim/util/error.h"
#include "hilsim/util/file_text.h"
#include "hilsim/util/hash.h"

namespace hilsim::partition {

namespace {

constexpr char kMagic[8] = {'H', 'I', 'L', 'S', 'I', 'M', 'P', 'K'};

struct Writer {
  std::string out;
  template <class T>
  void pod(T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    pod<uint32_t>(static_cast<uint32_t>(s.size()));
    out += s;
  }
  template <class T>
  void vec(const std::vector<T>& v) {
    pod<uint64_t>(v.size());
    out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
};

struct Reader {
  const std::string& in;
  size_t pos;
  size_t end;
  std::string where;
  void need(size_t n) {
    if (n > end - pos) throw Error(where, "truncated packed data (read past the end at byte " + std::to_string(pos) + ")");
  }
  template <class T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, in.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string str() {
    const uint32_t n = pod<uint32_t>();
    need(n);
    std::string s = in.substr(pos, n);
    pos += n;
    return s;
  }
  template <class T>
  std::vector<T> vec() {
    const uint64_t n = pod<uint64_t>();
    if (n > (end - pos) / sizeof(T)) throw Error(where, "a vector claims more data than the file holds");
    std::vector<T> v(static_cast<size_t>(n));
    std::memcpy(v.data(), in.data() + pos, v.size() * sizeof(T));
    pos += v.size() * sizeof(T);
    return v;
  }
};

}  // namespace

std::string serialize_packed(const PackedModel& m) {
  Writer p;
  p.str(m.fingerprint);
  p.pod<uint32_t>(static_cast<uint32_t>(m.convs.size()));
  for (const auto& c : m.convs) {
    p.str(c.op);
    p.str(c.label);
    p.pod<int32_t>(c.rows.fb);
    for (int64_t v : {c.rows.f, c.rows.c, c.rows.kh, c.rows.kw}) p.pod<int64_t>(v);
    p.vec(c.rows.row_begin);
    p.vec(c.rows.cols);
    p.vec(c.rows.values);
    p.vec(c.rows.order);
    p.vec(c.bias);
  }
  Writer w;
  w.out.append(kMagic, 8);
  w.pod<uint32_t>(kPackedVersion);
  w.pod<uint32_t>(0);
  w.pod<uint64_t>(p.out.size());
  w.out += p.out;
  w.pod<uint64_t>(fnv1a(p.out.data(), p.out.size()));
  return w.out;
}

PackedModel parse_packed(const std::string& bytes, const std::string& where) {
  constexpr size_t kHeader = 8 + 4 + 4 + 8;
  if (bytes.size() < kHeader + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw Error(where, "not a hilsim packed-weights file (bad magic or too short)");
  Reader h{bytes, 8, bytes.size(), where};
  const uint32_t version = h.pod<uint32_t>();
  h.pod<uint32_t>();
  const uint64_t payload = h.pod<uint64_t>();
  if (version == 1)
    throw Error(where, "packed-weights version 1 (64-bit row offsets, before the sparse formats shared one row "
                       "layout); this hilsim reads version " + std::to_string(kPackedVersion) +
                           ": emit the model again");
  if (version != kPackedVersion)
    throw Error(where, "packed-weights version " + std::to_string(version) + " (this hilsim reads " +
                           std::to_string(kPackedVersion) + ")");
  if (payload != bytes.size() - kHeader - 8)
    throw Error(where, "truncated or padded: the header announces " + std::to_string(payload) + " payload bytes, the file has " +
                           std::to_string(bytes.size() - kHeader - 8));
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + kHeader + payload, 8);
  if (stored != fnv1a(bytes.data() + kHeader, static_cast<size_t>(payload)))
    throw Error(where, "checksum mismatch: the packed weights are corrupt");
  Reader r{bytes, kHeader, kHeader + static_cast<size_t>(payload), where};
  PackedModel m;
  m.fingerprint = r.str();
  const uint32_t n = r.pod<uint32_t>();
  for (uint32_t i = 0; i < n; ++i) {
    PackedConv c;
    c.op = r.str();
    c.label = r.str();
    c.rows.fb = r.pod<int32_t>();
    c.rows.f = r.pod<int64_t>();
    c.rows.c = r.pod<int64_t>();
    c.rows.kh = r.pod<int64_t>();
    c.rows.kw = r.pod<int64_t>();
    c.rows.row_begin = r.vec<int32_t>();
    c.rows.cols = r.vec<int32_t>();
    c.rows.values = r.vec<float>();
    c.rows.order = r.vec<int32_t>();
    c.bias = r.vec<float>();
    m.convs.push_back(std::move(c));
  }
  if (r.pos != r.end) throw Error(where, "trailing bytes after the last conv");
  return m;
}

void save_packed(const PackedModel& m, const std::string& path) {
  write_file_replacing(path, serialize_packed(m), "the packed weights");
}

PackedModel load_packed(const std::string& path) {
  return parse_packed(read_file(path, "cannot open the packed weights"), path);
}

}  // namespace hilsim::partition
