// CudaState's paged pool loans (PoolLoan, cuda_state.h): a paged state lending its slot pool to
// its fork, and both ways the pool comes back (parked by a fork that is destroyed, or recalled by
// the lender's next call). Why: the app forks a document's state for every question; with the
// document's rows paged, each question's fork used to start from an empty pool and load every
// chunk its question selected from the host again, and the document then reloaded its own.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "cuda_state.h"

namespace lectern::cuda {

namespace {

// LECTERN_CUDA_POOL_LOAN=0: a paged state's forks start with an empty pool again (for A/B).
bool pool_loans_on() {
    static const bool on = [] {
        const char* v = std::getenv("LECTERN_CUDA_POOL_LOAN");
        return !(v && std::string_view(v) == "0");
    }();
    return on;
}

// What the borrower wrote into the pool from the lender's last chunk on (its own rows, a chunk it
// completed and rounded) is not the lender's: those slots are forgotten.
void forget_borrowed_rows(KvPages& pages, const PoolLoan& loan, int chunk_size) {
    for (std::size_t j = 0; j < loan.lender_rows.size(); ++j)
        pages.planner().forget_from(int(j), loan.lender_rows[j] / chunk_size);
}

}  // namespace

bool CudaState::borrows_pool() const {
    if (!m_pool_borrowed) return false;
    std::lock_guard lock(m_pool_borrowed->lock);
    return m_pool_borrowed->borrower == this;
}

bool CudaState::lend_pool_to(CudaState& fork) {
    // An empty pool too (a document reopened from its store has none until it runs): the fork
    // grows it, and the document gets it back with the chunks the question loaded.
    if (!m_pages || m_pool_lent || borrows_pool() || !pool_loans_on()) return false;
    // The fork's own chunk means (it appends its own chunks' means after them), charged only if
    // they fit as they are: making room would take back idle pools, this very one among them.
    // Room for as many more chunks as reserve_means' growth gives, not the lender's capacity
    // (sized for its next call, up to warm_up's 4,096 tokens): a question rarely needs it.
    const std::size_t row_bytes = m_C * sizeof(float);
    std::vector<std::int64_t> capacity;
    std::size_t charge = 0;
    for (const KvMirror& k : m_kv) {
        capacity.push_back(
            std::min(k.mean_capacity, KvMirror::grown_mean_capacity(k.mean_chunks, k.mean_chunks)));
        charge += std::size_t(capacity.back()) * row_bytes;
    }
    if (charge > m_model.kv_available() || !m_model.charge_kv(charge)) return false;
    // Charged from the start, so the fork's destructor gives back what was taken if this fails.
    for (std::size_t j = 0; j < m_kv.size(); ++j)
        fork.m_kv[j].charged = std::size_t(capacity[j]) * row_bytes;
    for (std::size_t j = 0; j < m_kv.size(); ++j) {
        const KvMirror& k = m_kv[j];
        KvMirror& f = fork.m_kv[j];
        if (capacity[j] > 0) {
            auto means = DeviceBuffer::allocate(std::size_t(capacity[j]) * row_bytes);
            if (!means) {
                cudaGetLastError();  // an allocation failure is not sticky
                return false;
            }
            f.means = std::move(*means);
            if (k.mean_chunks > 0 &&
                cudaMemcpy(f.means.data(), k.means.data(), std::size_t(k.mean_chunks) * row_bytes,
                           cudaMemcpyDeviceToDevice) != cudaSuccess) {
                cudaGetLastError();
                return false;
            }
        }
        f.rows = k.rows;
        f.mean_chunks = k.mean_chunks;
        f.mean_capacity = capacity[j];
    }
    const int blocks = int(m_kv.size());
    fork.m_pages = std::make_unique<KvPages>(m_model, blocks, int(m_C), m_chunk_size);
    fork.m_pages->swap_pool(*m_pages);
    auto loan = std::make_shared<PoolLoan>();
    loan->borrower = &fork;
    for (const KvMirror& k : m_kv) loan->lender_rows.push_back(k.rows);
    m_pool_lent = loan;
    fork.m_pool_borrowed = std::move(loan);
    m_pool_borrowed.reset();  // a loan of its own that ended (recalled)
    return true;
}

void CudaState::take_back_pool() {
    if (!m_pool_lent) return;
    const std::shared_ptr<PoolLoan> loan = std::move(m_pool_lent);
    std::lock_guard lock(loan->lock);
    // This state ran nothing since it lent the pool (a call takes it back first), so its own
    // pool is still the empty one it swapped in; checked all the same.
    const bool empty = m_pages->slot_count() == 0;
    if (loan->borrower) {  // recalled from the living fork, which is not in a call now
        KvPages& theirs = *loan->borrower->m_pages;
        forget_borrowed_rows(theirs, *loan, m_chunk_size);
        if (empty) m_pages->swap_pool(theirs);
        loan->borrower = nullptr;
    } else if (loan->returned) {
        if (empty) m_pages->swap_pool(*loan->returned);
    }
    loan->returned.reset();  // frees a pool not taken above
}

void CudaState::give_back_pool() {
    if (!m_pool_borrowed) return;
    const std::shared_ptr<PoolLoan> loan = std::move(m_pool_borrowed);
    std::lock_guard lock(loan->lock);
    if (loan->borrower != this) return;  // recalled already: m_pages is this state's own
    loan->borrower = nullptr;
    if (!loan->lender_alive || !m_pages) return;  // the pool goes with this state
    forget_borrowed_rows(*m_pages, *loan, m_chunk_size);
    loan->returned = std::move(m_pages);
}

void CudaState::end_pool_loan() {
    if (!m_pool_lent) return;
    const std::shared_ptr<PoolLoan> loan = std::move(m_pool_lent);
    std::lock_guard lock(loan->lock);
    loan->lender_alive = false;
    loan->returned.reset();  // a pool still out stays with the fork, freed when it goes
}

}  // namespace lectern::cuda
