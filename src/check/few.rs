//! `Few<T>`: a real server's short list (its checkers' specs, their retry
//! states), one item inline and more boxed. A real server has one checker
//! as a rule, and a box of one costs an allocation and the allocator's
//! overhead in each of tens of thousands of real servers.

#[derive(Clone, Debug)]
pub enum Few<T> {
    One(T),
    More(Box<[T]>),
}

impl<T> Few<T> {
    pub fn new(mut v: Vec<T>) -> Few<T> {
        if v.len() == 1
            && let Some(one) = v.pop()
        {
            return Few::One(one);
        }
        Few::More(v.into_boxed_slice())
    }
}

impl<T> FromIterator<T> for Few<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Few<T> {
        let mut it = iter.into_iter();
        let Some(first) = it.next() else { return Few::More(Box::new([])) };
        let Some(second) = it.next() else { return Few::One(first) };
        let mut v = Vec::with_capacity(2 + it.size_hint().0);
        v.push(first);
        v.push(second);
        v.extend(it);
        Few::More(v.into_boxed_slice())
    }
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Few::One(t) => std::slice::from_ref(t),
            Few::More(b) => b,
        }
    }
}

impl<T> std::ops::DerefMut for Few<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Few::One(t) => std::slice::from_mut(t),
            Few::More(b) => b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Few;

    #[test]
    fn none_one_and_more_read_back_in_order() {
        let none: Few<u8> = Few::new(Vec::new());
        assert!(none.is_empty());
        let one: Few<u8> = [7].into_iter().collect();
        assert!(matches!(one, Few::One(7)));
        let mut more: Few<u8> = (1..=3).collect();
        more[1] = 9;
        assert_eq!(&*more, &[1, 9, 3]);
        assert_eq!(&*Few::new(vec![4]), &[4]);
        assert_eq!(&*Few::new(vec![4, 5]), &[4, 5]);
    }

    #[test]
    fn one_item_needs_no_allocation_of_its_own() {
        let before = crate::os::mem::thread_allocs();
        let one: Few<u64> = std::iter::once(5).collect();
        assert_eq!(crate::os::mem::thread_allocs(), before, "Few::One allocated");
        assert_eq!(one.len(), 1);
    }
}
