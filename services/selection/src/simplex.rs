//! A revised primal simplex for column generation: maximise c·x subject to A·x = b, x ≥ 0,
//! b ≥ 0, where columns arrive one at a time, nonbasic ones may leave, and costs and the
//! right-hand side may change between solves. No basic column ever changes, so the basis
//! inverse stays valid throughout.
//!
//! Why our own: LEXIMIN re-solves the same LP hundreds of times, each time with one more
//! column. A general solver rebuilds its factorisation on every change (about 60 ms a round on
//! a 323-type pool); here a new column costs only pricing and a few pivots on an explicit
//! dense basis inverse, which at these sizes (a few hundred to a thousand rows, well-scaled
//! probabilities) is both simple and fast.
//!
//! Robustness: Harris's two-pass ratio test, Bland's rule after a run of degenerate pivots
//! (which guarantees termination), a residual check that triggers a fresh inversion, and
//! artificial variables (one per row, never re-entering once out) for phase 1 and for a warm
//! basis that became singular.

/// Reduced costs above this are improving.
const OPTIMALITY_TOLERANCE: f64 = 1e-9;
/// Basic values may dip this far below zero.
const FEASIBILITY_TOLERANCE: f64 = 1e-9;
/// How far below zero a basic value may be, after a right-hand side change, and still count
/// as feasible (then clamped to zero), and how much artificial value phase 1 may leave.
const WARM_FEASIBILITY_TOLERANCE: f64 = 1e-7;
/// Smallest pivot element accepted.
const PIVOT_TOLERANCE: f64 = 1e-9;
/// Degenerate pivots in a row before Bland's rule takes over.
const DEGENERATE_RUN_MAX: usize = 40;
/// Pivots between residual checks.
const RESIDUAL_CHECK_EVERY: usize = 64;
/// A residual max |B·x_B − b| above this asks for a fresh inversion...
const RESIDUAL_TOLERANCE: f64 = 1e-9;
/// ...unless a fresh inversion of this kind of basis left nearly as much: then only once the
/// residual has grown this many times over what the last inversion left...
const RESIDUAL_GROWTH_MAX: f64 = 8.0;
/// ...and always above this. On pool_2000 a basis inverted afresh can keep a residual of a few
/// times 1e-9 (shares of 1/n for n up to 50, beside fixed rows), and re-inverting it every
/// 64 pivots took more time than the pivots (146 inversions of a 730-row basis in one stage).
const RESIDUAL_MAX: f64 = 1e-7;

/// Why a solve failed.
#[derive(Debug, Clone, PartialEq)]
pub enum LpError {
    Infeasible,
    Unbounded,
    IterationLimit,
}

impl std::fmt::Display for LpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LpError::Infeasible => f.write_str("the LP is infeasible"),
            LpError::Unbounded => f.write_str("the LP is unbounded"),
            LpError::IterationLimit => f.write_str("the LP hit its iteration limit"),
        }
    }
}

#[derive(Clone, Debug)]
struct Column {
    cost: f64,
    rows: Vec<usize>,
    values: Vec<f64>,
}

/// A basic variable: a structural column, or the artificial +e_row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Column(usize),
    Artificial(usize),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Maximise −Σ artificials.
    One,
    /// Maximise c·x; artificials must stay at zero.
    Two,
}

/// The LP and its current basis.
#[derive(Debug)]
pub struct ColumnLp {
    rows: usize,
    b: Vec<f64>,
    columns: Vec<Column>,
    /// Position in the basis of each column, if basic.
    basic_position: Vec<Option<usize>>,
    basis: Vec<Var>,
    /// B⁻¹, column-major: entry (i, j) at `j * rows + i`.
    inverse: Vec<f64>,
    /// Values of the basic variables.
    x: Vec<f64>,
    /// No basis yet.
    fresh: bool,
    /// The basic values no longer match b.
    rhs_changed: bool,
    /// Pivots made, for the trace and the iteration limit.
    pub pivots: usize,
    /// Of which degenerate (no progress) and made under Bland's rule, for the trace.
    pub degenerate_pivots: usize,
    pub bland_pivots: usize,
    /// Fresh inversions and restarts from a crash basis, for the trace.
    pub inversions: usize,
    pub crashes: usize,
    /// Time spent in fresh inversions, for the trace.
    pub inversion_nanos: u64,
    /// The residual the last fresh inversion left.
    residual_after_inversion: f64,
}

impl ColumnLp {
    /// An LP with `b` as right-hand side (every entry ≥ 0) and no columns yet.
    pub fn new(b: Vec<f64>) -> Self {
        debug_assert!(b.iter().all(|&v| v >= 0.0));
        let rows = b.len();
        ColumnLp {
            rows,
            b,
            columns: Vec::new(),
            basic_position: Vec::new(),
            basis: (0..rows).map(Var::Artificial).collect(),
            inverse: Vec::new(),
            x: Vec::new(),
            fresh: true,
            rhs_changed: false,
            pivots: 0,
            degenerate_pivots: 0,
            bland_pivots: 0,
            inversions: 0,
            crashes: 0,
            inversion_nanos: 0,
            residual_after_inversion: 0.0,
        }
    }

    /// Adds a column (cost, and its nonzero entries as (row, value)); returns its index. The
    /// current basis stays valid: the new column simply starts nonbasic.
    pub fn add_column(&mut self, cost: f64, entries: &[(usize, f64)]) -> usize {
        self.columns.push(Column {
            cost,
            rows: entries.iter().map(|e| e.0).collect(),
            values: entries.iter().map(|e| e.1).collect(),
        });
        self.basic_position.push(None);
        self.columns.len() - 1
    }

    /// Removes the nonbasic columns for which `keep(index, reduced cost)` is false, the reduced
    /// cost taken under the current basis's phase 2 multipliers; returns each old index's new
    /// index, `None` for a removed column. The basis, its inverse and its values are untouched,
    /// so the current solution stays what it was.
    pub fn remove_nonbasic(&mut self, mut keep: impl FnMut(usize, f64) -> bool) -> Vec<Option<usize>> {
        let reduced = self.reduced_costs(Phase::Two);
        let mut new_index = vec![None; self.columns.len()];
        let mut kept = 0;
        for (j, index) in new_index.iter_mut().enumerate() {
            if self.basic_position[j].is_some() || keep(j, reduced[j]) {
                *index = Some(kept);
                kept += 1;
            }
        }
        let old_columns = std::mem::take(&mut self.columns);
        let old_positions = std::mem::take(&mut self.basic_position);
        for ((column, position), index) in old_columns.into_iter().zip(old_positions).zip(&new_index) {
            if index.is_some() {
                self.columns.push(column);
                self.basic_position.push(position);
            }
        }
        for var in &mut self.basis {
            if let Var::Column(j) = var {
                *j = new_index[*j].expect("a basic column is kept");
            }
        }
        new_index
    }

    /// Replaces a column's cost. The basis stays feasible; only optimality may change.
    pub fn set_cost(&mut self, j: usize, cost: f64) {
        self.columns[j].cost = cost;
    }

    /// Replaces one right-hand side entry (≥ 0). The basis inverse stays valid; the basic
    /// values are recomputed at the next solve, and if they are no longer feasible, phase 1
    /// starts from a fresh basis.
    pub fn set_rhs(&mut self, row: usize, value: f64) {
        debug_assert!(value >= 0.0);
        if self.b[row] != value {
            self.b[row] = value;
            self.rhs_changed = true;
        }
    }

    /// Columns in the LP.
    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    /// The value of column `j` in the current basic solution.
    pub fn value(&self, j: usize) -> f64 {
        self.basic_position[j].map_or(0.0, |i| self.x[i].max(0.0))
    }

    /// The objective c·x of the current basic solution.
    pub fn objective(&self) -> f64 {
        self.basis
            .iter()
            .zip(&self.x)
            .map(|(v, x)| match v {
                Var::Column(j) => self.columns[*j].cost * x,
                Var::Artificial(_) => 0.0,
            })
            .sum()
    }

    /// The simplex multipliers π = c_B·B⁻¹ of phase 2: at an optimum, an optimal dual solution.
    /// A column's reduced cost is c_j − π·a_j.
    pub fn duals(&self) -> Vec<f64> {
        self.multipliers(Phase::Two)
    }

    /// Solves to optimality from the current basis, repairing it first if the matrix changed.
    pub fn solve(&mut self) -> Result<(), LpError> {
        if self.fresh {
            self.fresh = false;
            self.rhs_changed = false;
            self.crash();
        } else if self.rhs_changed {
            self.rhs_changed = false;
            self.recompute_x();
            // The old point should still be feasible; rounding in an updated inverse can make
            // it look slightly otherwise, so invert afresh before giving up on the basis.
            let still_feasible = self.feasible() || (self.reinvert() && self.feasible());
            if !still_feasible {
                self.crash();
            }
            self.clamp_x();
        }
        if self.artificials_positive() {
            self.iterate(Phase::One)?;
            if self.infeasible() {
                return Err(LpError::Infeasible);
            }
        }
        self.iterate(Phase::Two)
    }

    fn feasible(&self) -> bool {
        self.x.iter().all(|&v| v >= -WARM_FEASIBILITY_TOLERANCE)
    }

    /// Rounding leaves basic values a hair below zero; they are zero. Only where the values are
    /// recomputed for a new right-hand side: clamped anywhere else, they no longer solve
    /// B·x_B = b, and the drift check reads that as drift that no fresh inversion removes (on
    /// pool_500, 513 inversions, half the solve, for a residual of 1.4e-8 that came back each
    /// time). The ratio test reads a negative value as zero.
    fn clamp_x(&mut self) {
        for v in &mut self.x {
            if *v < 0.0 && *v >= -WARM_FEASIBILITY_TOLERANCE {
                *v = 0.0;
            }
        }
    }

    fn artificials_positive(&self) -> bool {
        self.basis.iter().zip(&self.x).any(|(v, &x)| matches!(v, Var::Artificial(_)) && x > FEASIBILITY_TOLERANCE)
    }

    /// After phase 1: artificial value beyond rounding means no feasible point.
    fn infeasible(&self) -> bool {
        self.basis.iter().zip(&self.x).any(|(v, &x)| matches!(v, Var::Artificial(_)) && x > WARM_FEASIBILITY_TOLERANCE)
    }

    fn cost(&self, var: Var, phase: Phase) -> f64 {
        match (var, phase) {
            (Var::Artificial(_), Phase::One) => -1.0,
            (Var::Artificial(_), Phase::Two) => 0.0,
            (Var::Column(_), Phase::One) => 0.0,
            (Var::Column(j), Phase::Two) => self.columns[j].cost,
        }
    }

    fn multipliers(&self, phase: Phase) -> Vec<f64> {
        let m = self.rows;
        let c_b: Vec<f64> = self.basis.iter().map(|&v| self.cost(v, phase)).collect();
        (0..m).map(|j| dot(&c_b, &self.inverse[j * m..(j + 1) * m])).collect()
    }

    /// A basis that is trivially invertible and feasible: for a row with b = 0, a column that is
    /// a signed unit vector on that row if there is one; otherwise the row's artificial.
    fn crash(&mut self) {
        self.crashes += 1;
        self.residual_after_inversion = 0.0;
        let m = self.rows;
        for p in self.basic_position.iter_mut() {
            *p = None;
        }
        self.basis = (0..m).map(Var::Artificial).collect();
        self.inverse = vec![0.0; m * m];
        for i in 0..m {
            self.inverse[i * m + i] = 1.0;
        }
        for (j, column) in self.columns.iter().enumerate() {
            if column.rows.len() == 1 {
                let i = column.rows[0];
                if self.b[i] == 0.0 && self.basis[i] == Var::Artificial(i) && column.values[0] != 0.0 {
                    self.basis[i] = Var::Column(j);
                    self.basic_position[j] = Some(i);
                    self.inverse[i * m + i] = 1.0 / column.values[0];
                }
            }
        }
        self.x = self.b.clone();
    }

    /// Inverts the current basis afresh and recomputes the basic values. Returns false if the
    /// basis is singular.
    ///
    /// Most basic columns are unit vectors (surpluses, artificials), so only the block of the
    /// other ("general") columns on the rows no unit column covers is inverted densely:
    /// with B = [[D, G₁], [0, G₂]] after permutation (D diagonal), x_g = G₂⁻¹·b_R and each unit
    /// position p on row u gets x_p = (b_u − Σ_g G[u, g]·x_g)/D_p. For k general columns this
    /// costs k³ rather than m³.
    fn reinvert(&mut self) -> bool {
        let started = std::time::Instant::now();
        let inverted = self.reinvert_timed();
        self.inversion_nanos += started.elapsed().as_nanos() as u64;
        if inverted {
            self.residual_after_inversion = self.residual();
        }
        inverted
    }

    /// Whether the basic values have drifted enough from B·x_B = b to invert afresh.
    fn drifted(&self) -> bool {
        let residual = self.residual();
        residual > RESIDUAL_MAX
            || (residual > RESIDUAL_TOLERANCE && residual > RESIDUAL_GROWTH_MAX * self.residual_after_inversion)
    }

    /// One step of iterative refinement, x_B += B⁻¹·(b − B·x_B): it repairs basic values that
    /// drifted through rounding in the updated inverse at the cost of one product with B⁻¹,
    /// where a fresh inversion costs k³. True if the values no longer count as drifted.
    fn refine_x(&mut self) -> bool {
        let m = self.rows;
        let mut r: Vec<f64> = self.b.clone();
        for (&var, &x) in self.basis.iter().zip(&self.x) {
            match var {
                Var::Artificial(i) => r[i] -= x,
                Var::Column(j) => {
                    let column = &self.columns[j];
                    for (&i, &v) in column.rows.iter().zip(&column.values) {
                        r[i] -= v * x;
                    }
                }
            }
        }
        for (i, &ri) in r.iter().enumerate() {
            if ri != 0.0 {
                axpy(ri, &self.inverse[i * m..(i + 1) * m], &mut self.x);
            }
        }
        !self.drifted()
    }

    fn reinvert_timed(&mut self) -> bool {
        self.inversions += 1;
        let m = self.rows;
        // The entries of each basis position's column.
        let entries = |var: Var| -> (Vec<usize>, Vec<f64>) {
            match var {
                Var::Artificial(i) => (vec![i], vec![1.0]),
                Var::Column(j) => (self.columns[j].rows.clone(), self.columns[j].values.clone()),
            }
        };
        let columns: Vec<(Vec<usize>, Vec<f64>)> = self.basis.iter().map(|&v| entries(v)).collect();
        // Unit positions and the rows they cover.
        let mut unit_of_row: Vec<Option<usize>> = vec![None; m];
        let mut general: Vec<usize> = Vec::new();
        for (p, (rows, values)) in columns.iter().enumerate() {
            if rows.len() == 1 && unit_of_row[rows[0]].is_none() && values[0] != 0.0 {
                unit_of_row[rows[0]] = Some(p);
            } else {
                general.push(p);
            }
        }
        let remaining: Vec<usize> = (0..m).filter(|&i| unit_of_row[i].is_none()).collect();
        let k = general.len();
        if remaining.len() != k {
            return false;
        }
        let mut index_in_remaining = vec![usize::MAX; m];
        for (ri, &i) in remaining.iter().enumerate() {
            index_in_remaining[i] = ri;
        }
        // G₂, row-major: rows `remaining`, columns `general`.
        let mut block = vec![0.0; k * k];
        for (gi, &p) in general.iter().enumerate() {
            for (&i, &v) in columns[p].0.iter().zip(&columns[p].1) {
                if index_in_remaining[i] != usize::MAX {
                    block[index_in_remaining[i] * k + gi] = v;
                }
            }
        }
        let Some(block_inverse) = invert_dense(k, block) else { return false };
        let mut inverse = vec![0.0; m * m];
        // Columns of B⁻¹ for rows a unit column covers: 1/D at that unit's position.
        for i in 0..m {
            if let Some(p) = unit_of_row[i] {
                inverse[i * m + p] = 1.0 / columns[p].1[0];
            }
        }
        // Columns for the remaining rows: G₂⁻¹ at the general positions, then the unit
        // positions' corrections.
        for (ri, &i) in remaining.iter().enumerate() {
            let column = &mut inverse[i * m..(i + 1) * m];
            for (gi, &p) in general.iter().enumerate() {
                let x_g = block_inverse[gi * k + ri];
                if x_g == 0.0 {
                    continue;
                }
                column[p] = x_g;
                for (&row, &v) in columns[p].0.iter().zip(&columns[p].1) {
                    if let Some(u) = unit_of_row[row] {
                        column[u] -= v * x_g / columns[u].1[0];
                    }
                }
            }
        }
        self.inverse = inverse;
        self.recompute_x();
        true
    }

    fn recompute_x(&mut self) {
        let m = self.rows;
        let mut x = vec![0.0; m];
        for (j, &bj) in self.b.iter().enumerate() {
            if bj != 0.0 {
                axpy(bj, &self.inverse[j * m..(j + 1) * m], &mut x);
            }
        }
        self.x = x;
    }

    /// max |B·x_B − b|.
    fn residual(&self) -> f64 {
        let mut r: Vec<f64> = self.b.iter().map(|v| -v).collect();
        for (&var, &x) in self.basis.iter().zip(&self.x) {
            match var {
                Var::Artificial(i) => r[i] += x,
                Var::Column(j) => {
                    let column = &self.columns[j];
                    for (&i, &v) in column.rows.iter().zip(&column.values) {
                        r[i] += v * x;
                    }
                }
            }
        }
        r.iter().fold(0.0, |a, v| a.max(v.abs()))
    }

    /// B⁻¹·a_j.
    fn ftran(&self, j: usize) -> Vec<f64> {
        let m = self.rows;
        let mut alpha = vec![0.0; m];
        let column = &self.columns[j];
        for (&r, &v) in column.rows.iter().zip(&column.values) {
            axpy(v, &self.inverse[r * m..(r + 1) * m], &mut alpha);
        }
        alpha
    }

    fn reduced_cost(&self, j: usize, pi: &[f64], phase: Phase) -> f64 {
        let column = &self.columns[j];
        let priced: f64 = column.rows.iter().zip(&column.values).map(|(&r, &v)| pi[r] * v).sum();
        self.cost(Var::Column(j), phase) - priced
    }

    /// Every column's reduced cost under the current basis (0 for basic columns).
    fn reduced_costs(&self, phase: Phase) -> Vec<f64> {
        let pi = self.multipliers(phase);
        (0..self.columns.len())
            .map(|j| if self.basic_position[j].is_some() { 0.0 } else { self.reduced_cost(j, &pi, phase) })
            .collect()
    }

    fn iterate(&mut self, phase: Phase) -> Result<(), LpError> {
        let m = self.rows;
        let limit = self.pivots + 50 * (m + self.columns.len()) + 10_000;
        let mut degenerate_run = 0;
        let mut since_check = 0;
        // Devex reference weights (Forrest and Goldfarb's approximation of steepest edge):
        // pricing by d_j²/w_j takes fewer pivots than the largest d_j on these degenerate LPs.
        // The reference framework restarts with each solve (carrying it over measured slower).
        let mut devex = vec![1.0f64; self.columns.len()];
        // Reduced costs are updated with each pivot from row r of the tableau, which Devex
        // needs anyway, and recomputed from scratch now and then and before declaring optimal.
        let mut d = self.reduced_costs(phase);
        let mut fresh = true;
        loop {
            if self.pivots > limit {
                return Err(LpError::IterationLimit);
            }
            let bland = degenerate_run >= DEGENERATE_RUN_MAX;
            let mut entering: Option<(usize, f64)> = None;
            for (j, &dj) in d.iter().enumerate() {
                if dj > OPTIMALITY_TOLERANCE && self.basic_position[j].is_none() {
                    if bland {
                        entering = Some((j, dj));
                        break;
                    }
                    let score = dj * dj / devex[j];
                    if entering.is_none_or(|(_, best)| score > best) {
                        entering = Some((j, score));
                    }
                }
            }
            let Some((q, _)) = entering else {
                if fresh {
                    return Ok(());
                }
                d = self.reduced_costs(phase);
                fresh = true;
                continue;
            };
            let alpha = self.ftran(q);
            let Some(r) = self.leaving_row(&alpha, phase, bland) else {
                return Err(LpError::Unbounded);
            };
            let theta = (self.x[r] / alpha[r]).max(0.0);
            degenerate_run = if theta <= 1e-12 { degenerate_run + 1 } else { 0 };
            self.degenerate_pivots += usize::from(theta <= 1e-12);
            self.bland_pivots += usize::from(bland);
            self.update_pricing(&mut d, &mut devex, q, r, alpha[r]);
            fresh = false;
            self.pivot(q, r, &alpha, theta);
            since_check += 1;
            if since_check >= RESIDUAL_CHECK_EVERY {
                since_check = 0;
                if self.drifted() && !self.refine_x() && !self.reinvert() {
                    // Numerically singular: start again from a clean basis.
                    self.crash();
                    return self.solve_after_crash();
                }
                d = self.reduced_costs(phase);
                fresh = true;
            }
        }
    }

    /// Before q enters at row r, with α_rj = (row r of B⁻¹)·a_j for each nonbasic column:
    /// - reduced costs: d_j −= (d_q/α_rq)·α_rj; the leaving column gets −d_q/α_rq, q gets 0;
    /// - Devex: w_j = max(w_j, (α_rj/α_rq)²·w_q); the leaving column gets max(w_q/α_rq², 1).
    fn update_pricing(&self, d: &mut [f64], devex: &mut [f64], q: usize, r: usize, pivot: f64) {
        let m = self.rows;
        // Row r of B⁻¹ (column-major storage).
        let rho: Vec<f64> = (0..m).map(|i| self.inverse[i * m + r]).collect();
        let (d_q, w_q) = (d[q], devex[q]);
        let step = d_q / pivot;
        for (j, column) in self.columns.iter().enumerate() {
            if j == q || self.basic_position[j].is_some() {
                continue;
            }
            let alpha_rj: f64 = column.rows.iter().zip(&column.values).map(|(&i, &v)| rho[i] * v).sum();
            if alpha_rj != 0.0 {
                d[j] -= step * alpha_rj;
                let ratio = alpha_rj / pivot;
                devex[j] = devex[j].max(ratio * ratio * w_q);
            }
        }
        d[q] = 0.0;
        if let Var::Column(leaving) = self.basis[r] {
            d[leaving] = -step;
            devex[leaving] = (w_q / (pivot * pivot)).max(1.0);
        }
    }

    fn solve_after_crash(&mut self) -> Result<(), LpError> {
        if self.artificials_positive() {
            self.iterate(Phase::One)?;
            if self.infeasible() {
                return Err(LpError::Infeasible);
            }
        }
        self.iterate(Phase::Two)
    }

    /// The row whose basic variable leaves, or `None` if the direction is unbounded.
    fn leaving_row(&self, alpha: &[f64], phase: Phase, bland: bool) -> Option<usize> {
        // In phase 2 an artificial basic at zero must stay there: any movement blocks.
        let blocks_at_zero = |i: usize| {
            phase == Phase::Two && matches!(self.basis[i], Var::Artificial(_)) && alpha[i].abs() > PIVOT_TOLERANCE
        };
        if let Some(i) = (0..self.rows).find(|&i| blocks_at_zero(i)) {
            return Some(i);
        }
        if bland {
            // Smallest ratio; ties to the smallest variable index, which makes cycling impossible.
            let mut best: Option<(usize, f64)> = None;
            for (i, &a) in alpha.iter().enumerate() {
                if a > PIVOT_TOLERANCE {
                    let ratio = self.x[i].max(0.0) / a;
                    let better = match best {
                        None => true,
                        Some((b, best_ratio)) => {
                            ratio < best_ratio - 1e-12
                                || (ratio <= best_ratio + 1e-12 && var_order(self.basis[i]) < var_order(self.basis[b]))
                        }
                    };
                    if better {
                        best = Some((i, ratio));
                    }
                }
            }
            return best.map(|b| b.0);
        }
        // Harris: the largest step any row allows with a little slack, then among the rows
        // blocking within it, the largest pivot element.
        let mut bound = f64::INFINITY;
        for (&a, &x) in alpha.iter().zip(&self.x) {
            if a > PIVOT_TOLERANCE {
                bound = bound.min((x.max(0.0) + FEASIBILITY_TOLERANCE) / a);
            }
        }
        if bound == f64::INFINITY {
            return None;
        }
        let mut best: Option<usize> = None;
        for (i, (&a, &x)) in alpha.iter().zip(&self.x).enumerate() {
            if a > PIVOT_TOLERANCE && x.max(0.0) / a <= bound && best.is_none_or(|b| a > alpha[b]) {
                best = Some(i);
            }
        }
        best
    }

    fn pivot(&mut self, q: usize, r: usize, alpha: &[f64], theta: f64) {
        let m = self.rows;
        axpy(-theta, alpha, &mut self.x);
        self.x[r] = theta;
        let pivot = alpha[r];
        for j in 0..m {
            let column = &mut self.inverse[j * m..(j + 1) * m];
            let v = column[r];
            if v != 0.0 {
                let t = v / pivot;
                axpy(-t, alpha, column);
                column[r] = t;
            }
        }
        if let Var::Column(old) = self.basis[r] {
            self.basic_position[old] = None;
        }
        self.basis[r] = Var::Column(q);
        self.basic_position[q] = Some(r);
        self.pivots += 1;
    }
}

/// Bland's order: structural columns first, by index, then artificials.
fn var_order(var: Var) -> usize {
    match var {
        Var::Column(j) => j,
        Var::Artificial(i) => usize::MAX / 2 + i,
    }
}

/// The inverse of a dense k×k row-major matrix (Gauss–Jordan, partial pivoting), or `None`
/// if it is singular.
fn invert_dense(k: usize, mut matrix: Vec<f64>) -> Option<Vec<f64>> {
    let mut inverse = vec![0.0; k * k];
    for i in 0..k {
        inverse[i * k + i] = 1.0;
    }
    for c in 0..k {
        let pivot_row = (c..k).max_by(|&a, &b| matrix[a * k + c].abs().total_cmp(&matrix[b * k + c].abs()))?;
        if matrix[pivot_row * k + c].abs() < 1e-11 {
            return None;
        }
        if pivot_row != c {
            for j in 0..k {
                matrix.swap(pivot_row * k + j, c * k + j);
                inverse.swap(pivot_row * k + j, c * k + j);
            }
        }
        let scale = 1.0 / matrix[c * k + c];
        for j in 0..k {
            matrix[c * k + j] *= scale;
            inverse[c * k + j] *= scale;
        }
        // Columns left of c are already eliminated in the matrix part.
        let pivot_matrix = matrix[c * k..(c + 1) * k].to_vec();
        let pivot_inverse = inverse[c * k..(c + 1) * k].to_vec();
        for r in 0..k {
            let factor = matrix[r * k + c];
            if r != c && factor != 0.0 {
                axpy(-factor, &pivot_matrix[c..], &mut matrix[r * k + c..(r + 1) * k]);
                axpy(-factor, &pivot_inverse, &mut inverse[r * k..(r + 1) * k]);
            }
        }
    }
    Some(inverse)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// max x + y s.t. x + 2y + s1 = 4, 3x + y + s2 = 6: optimum x = 1.6, y = 1.2, value 2.8,
    /// duals (0.4, 0.2).
    #[test]
    fn solves_a_small_lp_and_reports_its_duals() {
        let mut lp = ColumnLp::new(vec![4.0, 6.0]);
        let x = lp.add_column(1.0, &[(0, 1.0), (1, 3.0)]);
        let y = lp.add_column(1.0, &[(0, 2.0), (1, 1.0)]);
        lp.add_column(0.0, &[(0, 1.0)]);
        lp.add_column(0.0, &[(1, 1.0)]);
        lp.solve().unwrap();
        assert!((lp.value(x) - 1.6).abs() < 1e-9 && (lp.value(y) - 1.2).abs() < 1e-9);
        assert!((lp.objective() - 2.8).abs() < 1e-9);
        let duals = lp.duals();
        assert!((duals[0] - 0.4).abs() < 1e-9 && (duals[1] - 0.2).abs() < 1e-9, "{duals:?}");
    }

    /// Phase 1 is needed (equality rows with positive right-hand sides), and adding a column
    /// afterwards improves the warm-started optimum.
    #[test]
    fn warm_starts_after_a_column_is_added() {
        // max 2a + 3b s.t. a + b = 1 (a, b ≥ 0): b = 1, value 3; then c with cost 5 enters.
        let mut lp = ColumnLp::new(vec![1.0]);
        lp.add_column(2.0, &[(0, 1.0)]);
        lp.add_column(3.0, &[(0, 1.0)]);
        lp.solve().unwrap();
        assert!((lp.objective() - 3.0).abs() < 1e-12);
        let c = lp.add_column(5.0, &[(0, 1.0)]);
        lp.solve().unwrap();
        assert!((lp.objective() - 5.0).abs() < 1e-12 && (lp.value(c) - 1.0).abs() < 1e-12);
    }

    /// Columns that cannot improve the optimum go without moving it, and the basis that is left
    /// still warm-starts: the LP of the first test, with two dominated columns.
    #[test]
    fn removing_nonbasic_columns_keeps_the_solution_and_its_basis() {
        let mut lp = ColumnLp::new(vec![4.0, 6.0]);
        let slacks = [lp.add_column(0.0, &[(0, 1.0)]), lp.add_column(0.0, &[(1, 1.0)])];
        let x = lp.add_column(1.0, &[(0, 1.0), (1, 3.0)]);
        let dominated = lp.add_column(0.1, &[(0, 1.0), (1, 1.0)]);
        let y = lp.add_column(1.0, &[(0, 2.0), (1, 1.0)]);
        let negative = lp.add_column(-1.0, &[(0, 1.0)]);
        lp.solve().unwrap();
        let pivots = lp.pivots;
        let mut seen = Vec::new();
        let new_index = lp.remove_nonbasic(|j, reduced_cost| {
            seen.push((j, reduced_cost));
            slacks.contains(&j)
        });
        // Reduced costs c − π·a with π = (0.4, 0.2): 0.1 − 0.6 and −1 − 0.4.
        let reduced = |j: usize| seen.iter().find(|s| s.0 == j).map(|s| s.1).unwrap();
        assert!((reduced(dominated) + 0.5).abs() < 1e-9 && (reduced(negative) + 1.4).abs() < 1e-9, "{seen:?}");
        assert!(seen.iter().all(|s| s.0 != x && s.0 != y), "basic columns are never offered: {seen:?}");
        assert_eq!(new_index, vec![Some(0), Some(1), Some(2), None, Some(3), None]);
        let (x, y) = (new_index[x].unwrap(), new_index[y].unwrap());
        assert!((lp.value(x) - 1.6).abs() < 1e-9 && (lp.value(y) - 1.2).abs() < 1e-9);
        lp.solve().unwrap();
        assert_eq!(lp.pivots, pivots, "the optimum needed no pivot after the removal");
        assert!((lp.objective() - 2.8).abs() < 1e-9);
        // A new column that beats them all: u = 4 fills the first row, value 12.
        let u = lp.add_column(3.0, &[(0, 1.0), (1, 1.0)]);
        lp.solve().unwrap();
        assert!((lp.objective() - 12.0).abs() < 1e-9 && (lp.value(u) - 4.0).abs() < 1e-9);
    }

    #[test]
    fn reports_infeasibility() {
        // a = 1 and a = 2.
        let mut lp = ColumnLp::new(vec![1.0, 2.0]);
        lp.add_column(1.0, &[(0, 1.0), (1, 1.0)]);
        assert_eq!(lp.solve(), Err(LpError::Infeasible));
    }

    #[test]
    fn changing_the_right_hand_side_re_solves_from_the_old_basis() {
        // max a s.t. a + s = 1: then b = 3.
        let mut lp = ColumnLp::new(vec![1.0]);
        lp.add_column(1.0, &[(0, 1.0)]);
        lp.add_column(0.0, &[(0, 1.0)]);
        lp.solve().unwrap();
        lp.set_rhs(0, 3.0);
        lp.solve().unwrap();
        assert!((lp.objective() - 3.0).abs() < 1e-12);
    }

    /// A small deterministic generator, so the cases are the same on every machine.
    fn next(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Random LPs with ≤ rows (slacks), a convexity-like equality row that needs phase 1, and
    /// columns added after a first solve: the optimum agrees with microlp's.
    #[test]
    fn agrees_with_microlp_on_random_lps() {
        use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem};
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for case in 0..40 {
            let rows = 3 + case % 7;
            let columns = 4 + (case * 3) % 11;
            let matrix: Vec<Vec<f64>> = (0..columns)
                .map(|_| (0..rows).map(|_| if next(&mut state) < 0.3 { 0.0 } else { next(&mut state) }).collect())
                .collect();
            let costs: Vec<f64> = (0..columns).map(|_| next(&mut state) * 2.0 - 0.5).collect();
            let caps: Vec<f64> = (0..rows).map(|_| 0.5 + next(&mut state)).collect();
            // Rows 0..rows: Σ a_ij x_j + slack_i = cap_i. Row `rows`: Σ x_j = 1.
            let mut b = caps.clone();
            b.push(1.0);
            let mut lp = ColumnLp::new(b);
            let mut reference = Problem::new(OptimizationDirection::Maximize);
            let vars: Vec<_> = costs.iter().map(|&c| reference.add_var(c, (0.0, f64::INFINITY))).collect();
            for (i, &cap) in caps.iter().enumerate() {
                lp.add_column(0.0, &[(i, 1.0)]);
                let mut expr = LinearExpr::empty();
                for (j, &v) in vars.iter().enumerate() {
                    expr.add(v, matrix[j][i]);
                }
                reference.add_constraint(expr, ComparisonOp::Le, cap);
            }
            let mut total = LinearExpr::empty();
            for &v in &vars {
                total.add(v, 1.0);
            }
            reference.add_constraint(total, ComparisonOp::Eq, 1.0);
            let column_entries = |j: usize| -> Vec<(usize, f64)> {
                let mut e: Vec<(usize, f64)> =
                    (0..rows).filter(|&i| matrix[j][i] != 0.0).map(|i| (i, matrix[j][i])).collect();
                e.push((rows, 1.0));
                e
            };
            // Half the columns first, then the rest on a warm basis.
            let half = columns / 2;
            for (j, &cost) in costs.iter().enumerate().take(half) {
                lp.add_column(cost, &column_entries(j));
            }
            let first = lp.solve();
            for (j, &cost) in costs.iter().enumerate().skip(half) {
                lp.add_column(cost, &column_entries(j));
            }
            let second = lp.solve();
            match reference.solve() {
                Ok(solution) => {
                    assert!(second.is_ok(), "case {case}: {second:?} (first solve {first:?})");
                    let expected = solution.into_solution().expect("microlp finished").objective();
                    assert!((lp.objective() - expected).abs() < 1e-7, "case {case}: {} vs {expected}", lp.objective());
                }
                Err(microlp::Error::Infeasible) => assert_eq!(second, Err(LpError::Infeasible), "case {case}"),
                Err(error) => panic!("case {case}: microlp: {error}"),
            }
        }
    }
}
