// torch_bin_file: a PyTorch `pytorch_model.bin` (torch.save of a state_dict, the zip format of
// torch >= 1.6), read without Python and without executing anything: the zip directory
// (zip.hpp), the restricted unpickler (pickle.hpp), and zero-copy views of the storages.
//
// Layout written by torch.save: `<archive>/data.pkl` (the pickled state_dict), `<archive>/data/<key>`
// (one entry per storage, raw little-endian elements), `<archive>/byteorder` ("little"; absent in
// older files, which were little-endian), `<archive>/version`. A tensor is (storage, offset in
// elements, size, stride); we accept contiguous row-major tensors (what state_dicts hold) and
// check that each lies inside its storage. The legacy (pre-1.6, non-zip) format is refused.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "../error.hpp"
#include "mapped_file.hpp"
#include "pickle.hpp"
#include "tensor_view.hpp"
#include "zip.hpp"

namespace quant::io {

class torch_bin_file {
public:
    explicit torch_bin_file(std::string path) : file_(std::move(path)) {
        using quant::detail::check;
        const auto bytes = file_.bytes();
        check(bytes.size() >= 4 && bytes[0] == std::byte{'P'} && bytes[1] == std::byte{'K'}, path_(),
              ": not a zip-based torch.save file (the legacy pre-1.6 format is not supported)");
        const zip_archive zip(bytes, path_());
        std::string prefix;
        for (const auto& n : zip.names()) {
            const auto slash = n.find('/');
            if (slash != std::string::npos && n.substr(slash) == "/data.pkl") {
                prefix = n.substr(0, slash);
                break;
            }
        }
        check(!prefix.empty(), path_(), ": no <archive>/data.pkl entry: not a torch.save file");
        if (zip.contains(prefix + "/byteorder")) {
            const auto bo = zip.stored(prefix + "/byteorder");
            check(std::string_view(reinterpret_cast<const char*>(bo.data()), bo.size()) == "little", path_(),
                  ": big-endian torch files are not supported");
        }
        for (auto& t : unpickle_state_dict(zip.stored(prefix + "/data.pkl"), path_() + " (data.pkl)")) {
            const std::string who = path_() + ": tensor '" + t.name + "'";
            const auto storage = zip.stored(prefix + "/data/" + t.storage_key);
            const std::size_t es = element_size(t.dtype);
            check(storage.size() % es == 0, who, ": storage of ", storage.size(), " bytes is not a whole number of ",
                  element_type_name(t.dtype));
            tensor_view v;
            v.name = path_() + ": " + t.name;
            v.dtype = t.dtype;
            v.shape = t.shape;
            std::uint64_t n = 1, expect_stride = 1;
            for (auto d : t.shape) n = detail::checked_mul(n, d, who);
            for (std::size_t d = t.shape.size(); d-- > 0;) {
                check(n == 0 || t.shape[d] == 1 || t.stride[d] == expect_stride, who,
                      ": not contiguous (stride ", t.stride[d], " in dim ", d, ")");
                expect_stride *= t.shape[d];
            }
            const std::uint64_t elems = storage.size() / es;
            check(t.offset <= elems && n <= elems - t.offset, who, ": offset ", t.offset, " + ", n,
                  " elements run past its storage of ", elems);
            v.bytes = storage.subspan(t.offset * es, n * es);
            check(index_.emplace(t.name, views_.size()).second, who, ": duplicate name");
            views_.push_back(std::move(v));
        }
    }

    const std::string& path() const { return file_.path(); }
    const mapped_file& file() const { return file_; }
    std::vector<std::string> tensors() const {
        std::vector<std::string> names;
        for (const auto& v : views_) names.push_back(v.name.substr(path().size() + 2));
        return names;
    }
    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    const tensor_view& view(const std::string& name) const {
        const auto it = index_.find(name);
        quant::detail::check(it != index_.end(), path(), ": no tensor '", name, "'");
        return views_[it->second];
    }

private:
    const std::string& path_() const { return file_.path(); }
    mapped_file file_;
    std::vector<tensor_view> views_;
    std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace quant::io
