// CudaState's loans (KvLoan, cuda_state.h): a dense state lending its KV mirrors to a fork that
// the budget has no room to copy them for, and both sides of their return. Why: the app keeps a
// document's state on the GPU and forks it for every question; on a card that holds the document
// once, each question's fork used to take the mirrors back from it and upload every row from the
// host again (seconds for a long book), and the document then had to upload them once more.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_check.cuh"
#include "cuda_state.h"

namespace lectern::cuda {

bool CudaState::lend_to(CudaState& fork) {
    if (m_pages || m_lent || m_borrowed) return false;
    auto loan = std::make_shared<KvLoan>();
    loan->blocks.resize(m_kv.size());
    const std::size_t row_bytes = m_C * sizeof(float);
    // First the open chunks' copies, so that a failure leaves everything where it was. Charged
    // only if they fit as they are: making room would take back idle states' memory, this
    // state's own mirrors among them.
    std::size_t charged = 0;
    const auto undo = [&] {
        cudaGetLastError();  // an allocation failure is not sticky
        m_model.release_kv(charged);
        return false;  // the copies are freed with `loan`
    };
    for (std::size_t j = 0; j < m_kv.size(); ++j) {
        const KvMirror& k = m_kv[j];
        KvLoan::Block& b = loan->blocks[j];
        b.open_from = k.rows / m_chunk_size * m_chunk_size;
        b.open_rows = k.rows - b.open_from;
        if (!k.keys.data() || b.open_rows == 0) continue;
        const std::size_t bytes = std::size_t(b.open_rows) * row_bytes;
        if (2 * bytes > m_model.kv_available() || !m_model.charge_kv(2 * bytes)) return undo();
        charged += 2 * bytes;
        b.open_charged = 2 * bytes;
        auto keys = DeviceBuffer::allocate(bytes);
        if (!keys) return undo();
        auto values = DeviceBuffer::allocate(bytes);
        if (!values) return undo();
        const std::size_t at = std::size_t(b.open_from) * row_bytes;
        if (cudaMemcpy(keys->data(), static_cast<const std::byte*>(k.keys.data()) + at, bytes,
                       cudaMemcpyDeviceToDevice) != cudaSuccess ||
            cudaMemcpy(values->data(), static_cast<const std::byte*>(k.values.data()) + at, bytes,
                       cudaMemcpyDeviceToDevice) != cudaSuccess)
            return undo();
        b.open_keys = std::move(*keys);
        b.open_values = std::move(*values);
    }
    // Then the buffers, with this state's counts; the charge goes with the loan.
    for (std::size_t j = 0; j < m_kv.size(); ++j) {
        KvMirror& k = m_kv[j];
        if (!k.keys.data()) continue;
        KvMirror& f = fork.m_kv[j];
        f.keys = std::move(k.keys);
        f.values = std::move(k.values);
        f.means = std::move(k.means);
        f.capacity = k.capacity;
        f.rows = k.rows;
        f.mean_chunks = k.mean_chunks;
        f.mean_capacity = k.mean_capacity;
        f.charged = 0;
        f.borrowed = true;
        KvLoan::Block& b = loan->blocks[j];
        b.out = true;
        b.charged = k.charged;
        k.charged = 0;
    }
    loan->borrower = &fork;
    m_lent = loan;
    fork.m_borrowed = std::move(loan);
    return true;
}

bool CudaState::take_back(bool recall) {
    if (!m_lent) return true;
    const std::shared_ptr<KvLoan> loan = m_lent;  // alive while its lock is held below
    std::lock_guard lock(loan->lock);
    const std::size_t row_bytes = m_C * sizeof(float);
    bool all = true;
    for (std::size_t j = 0; j < m_kv.size(); ++j) {
        KvLoan::Block& b = loan->blocks[j];
        if (b.out && recall && loan->borrower) loan->borrower->give_back(int(j), *loan);
        if (b.out) {
            all = false;
            continue;
        }
        KvMirror& k = m_kv[j];
        if (b.adopted) {
            k = KvMirror{};  // the fork kept the rows: the next call uploads them again
            b.adopted = false;
        } else if (b.keys.data()) {
            k.keys = std::move(b.keys);
            k.values = std::move(b.values);
            k.means = std::move(b.means);
            k.charged = b.charged;
            b.charged = 0;
            // The fork may have rounded this state's open rows (sealing the chunk they start):
            // the saved copies go back. Failing that, the mirror is dropped and uploaded again.
            const std::size_t at = std::size_t(b.open_from) * row_bytes;
            const std::size_t bytes = std::size_t(b.open_rows) * row_bytes;
            if (b.open_rows > 0 &&
                (cudaMemcpy(static_cast<std::byte*>(k.keys.data()) + at, b.open_keys.data(), bytes,
                            cudaMemcpyDeviceToDevice) != cudaSuccess ||
                 cudaMemcpy(static_cast<std::byte*>(k.values.data()) + at, b.open_values.data(),
                            bytes, cudaMemcpyDeviceToDevice) != cudaSuccess)) {
                cudaGetLastError();
                m_model.release_kv(k.charged);
                k = KvMirror{};
            }
        }  // else: never lent, or restored already
        b.open_keys = DeviceBuffer();
        b.open_values = DeviceBuffer();
        m_model.release_kv(b.open_charged);
        b.open_charged = 0;
    }
    if (all) m_lent.reset();
    return all;
}

bool CudaState::adopt(int j) {
    if (!m_borrowed) return false;
    std::lock_guard lock(m_borrowed->lock);
    KvMirror& k = m_kv[std::size_t(j)];
    if (!k.borrowed) return false;
    KvLoan::Block& b = m_borrowed->blocks[std::size_t(j)];
    k.charged = b.charged;
    k.borrowed = false;
    b.charged = 0;
    b.out = false;
    b.adopted = m_borrowed->lender_alive;
    return true;
}

std::size_t CudaState::give_back(int j, KvLoan& loan) {
    KvMirror& k = m_kv[std::size_t(j)];
    if (!k.borrowed) return 0;
    KvLoan::Block& b = loan.blocks[std::size_t(j)];
    std::size_t released = 0;
    if (loan.lender_alive) {
        b.keys = std::move(k.keys);
        b.values = std::move(k.values);
        b.means = std::move(k.means);
    } else {
        k.keys = DeviceBuffer();
        k.values = DeviceBuffer();
        k.means = DeviceBuffer();
        m_model.release_kv(b.charged);
        released = b.charged;
        b.charged = 0;
    }
    b.out = false;
    k.borrowed = false;
    // The lender's recall leaves this mirror empty: the next call uploads it from the host.
    k.capacity = k.rows = k.mean_chunks = k.mean_capacity = 0;
    return released;
}

std::size_t CudaState::give_back_all(bool dying) {
    if (!m_borrowed) return 0;
    const std::shared_ptr<KvLoan> loan = m_borrowed;
    std::lock_guard lock(loan->lock);
    std::size_t released = 0;
    for (std::size_t j = 0; j < m_kv.size(); ++j) released += give_back(int(j), *loan);
    if (dying) loan->borrower = nullptr;
    return released;
}

void CudaState::end_loan_as_lender() {
    if (!m_lent) return;
    const std::shared_ptr<KvLoan> loan = m_lent;
    std::lock_guard lock(loan->lock);
    loan->lender_alive = false;
    for (KvLoan::Block& b : loan->blocks) {
        if (!b.out) {  // given back: freed now; out: the borrower frees them with this charge
            b.keys = DeviceBuffer();
            b.values = DeviceBuffer();
            b.means = DeviceBuffer();
            m_model.release_kv(b.charged);
            b.charged = 0;
        }
        b.open_keys = DeviceBuffer();
        b.open_values = DeviceBuffer();
        m_model.release_kv(b.open_charged);
        b.open_charged = 0;
    }
    m_lent.reset();
}

std::size_t CudaState::kv_bytes() const {
    std::size_t bytes = 0;
    const auto count = [&] {
        for (const KvMirror& k : m_kv) bytes += k.bytes();
    };
    if (m_borrowed) {
        std::lock_guard lock(m_borrowed->lock);
        count();
    } else {
        count();
    }
    if (m_lent) {
        std::lock_guard lock(m_lent->lock);
        for (const KvLoan::Block& b : m_lent->blocks) bytes += b.charged;
    }
    return bytes;
}

bool CudaState::lending() const {
    if (!m_lent) return false;
    std::lock_guard lock(m_lent->lock);
    return std::any_of(m_lent->blocks.begin(), m_lent->blocks.end(),
                       [](const KvLoan::Block& b) { return b.out; });
}

}  // namespace lectern::cuda
