#include "hilsim/util/file_text.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "hilsim/util/error.h"

namespace hilsim {

std::string read_file(const std::string& path, const std::string& error_if_missing) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, error_if_missing);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file_replacing(const std::string& path, const std::string& bytes, const std::string& what) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path, "cannot write " + what);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw Error(path, "write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error(path, "cannot replace " + what);
}

}  // namespace hilsim
