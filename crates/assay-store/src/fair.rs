//! Fair claims: which due orders a claim takes when several products have work waiting.
//!
//! A claim used to take the oldest due orders whatever their product, so a product whose
//! plugin runs to its deadline, with a backlog queued first, held every worker slot and the
//! other products' orders waited behind it (77 s instead of 0.01 s in the probe behind issue
//! 13). Now a claim is given [`ClaimSlots`]: a total, and the free slots of each product.
//! Both backends then do the same three steps in one transaction:
//!
//! 1. list the products that have due orders, the product with the oldest due order first;
//! 2. for each product with a free slot, read its oldest due orders, at most its free slots
//!    (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so hosts still claim side by side);
//! 3. [`interleave`] them round robin: the first order of each product, then the second of
//!    each, until the total is reached; only those are moved to `fulfilling`.
//!
//! So a product queues only its own work: at its bound it gets nothing more however old its
//! backlog, and while several products have work each gets an equal share of the free slots.

use std::collections::BTreeMap;

/// How many orders a claim may take: in all, and of each product. See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimSlots {
    /// The most orders the claim takes in all.
    pub total: usize,
    /// The free slots of the products that have a bound of their own, by name.
    pub per_product: BTreeMap<String, usize>,
    /// The free slots of any product not in `per_product`.
    pub others: usize,
}

impl ClaimSlots {
    /// Up to `total` orders, of any products: no product has a bound of its own.
    pub fn uniform(total: usize) -> Self {
        Self {
            total,
            per_product: BTreeMap::new(),
            others: total,
        }
    }

    /// How many orders of `product` the claim may take.
    pub fn free(&self, product: &str) -> usize {
        self.per_product
            .get(product)
            .copied()
            .unwrap_or(self.others)
            .min(self.total)
    }

    /// The products that may take no order at all: [`crate::Store::next_fulfilment_due_except`]
    /// leaves their orders out, so an idle worker does not wake for work it may not claim.
    pub fn full_products(&self) -> Vec<String> {
        self.per_product
            .iter()
            .filter(|(_, free)| **free == 0)
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// Picks up to `total` orders round robin from each product's oldest due orders, the
/// products in the order given (oldest due order first). Each product's list is in its own
/// claim order; the answer is in the order the orders were picked.
pub fn interleave<T>(per_product: Vec<Vec<T>>, total: usize) -> Vec<T> {
    let mut queues: Vec<std::vec::IntoIter<T>> =
        per_product.into_iter().map(Vec::into_iter).collect();
    let mut picked = Vec::new();
    while picked.len() < total {
        let before = picked.len();
        for queue in &mut queues {
            if picked.len() == total {
                break;
            }
            if let Some(id) = queue.next() {
                picked.push(id);
            }
        }
        if picked.len() == before {
            break;
        }
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrderId;

    fn ids(v: &[i64]) -> Vec<OrderId> {
        v.iter().map(|&i| OrderId(i)).collect()
    }

    #[test]
    fn interleave_takes_one_of_each_product_in_turn_up_to_the_total() {
        let picked = interleave(vec![ids(&[1, 2, 3, 4]), ids(&[10, 11]), ids(&[20])], 6);
        assert_eq!(picked, ids(&[1, 10, 20, 2, 11, 3]));
        assert_eq!(
            interleave(vec![ids(&[1, 2]), ids(&[10])], 10),
            ids(&[1, 10, 2])
        );
        assert_eq!(interleave(vec![ids(&[1, 2])], 0), ids(&[]));
        assert_eq!(interleave::<OrderId>(vec![], 4), ids(&[]));
    }

    #[test]
    fn slots_bound_each_product_by_its_own_free_slots_and_the_total() {
        let slots = ClaimSlots {
            total: 5,
            per_product: [("slow".to_owned(), 0), ("big".to_owned(), 9)].into(),
            others: 2,
        };
        assert_eq!(slots.free("slow"), 0);
        assert_eq!(slots.free("big"), 5, "never more than the total");
        assert_eq!(slots.free("unlisted"), 2);
        assert_eq!(slots.full_products(), vec!["slow".to_owned()]);
        assert_eq!(ClaimSlots::uniform(3).free("any"), 3);
        assert!(ClaimSlots::uniform(3).full_products().is_empty());
    }
}
